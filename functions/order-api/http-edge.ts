/**
 * order-api's HTTP edge: what every request passes before anything reads it (headers, query strings and
 * path screened), and a JSON body read safely: content type (415), size (413), UTF-8 and JSON (400), and
 * the body's shape walked, bounded, before any schema recurses into it. Pure; refusals are `HttpError`s.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { formatPath, type Issue } from '../../events/codec.ts';
import { MAX_REQUEST_DEPTH, snakeToCamel } from '../../events/schemas/order-request.ts';
import {
  BadRequestError,
  type HttpError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from './http-errors.ts';

/** Orders are small; anything bigger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Keys that name a prototype in JavaScript: refused anywhere a client chooses a name. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** `String.prototype.isWellFormed` (ES2024, Node 20+): false for a lone surrogate. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/** Header names are case-insensitive: one lower-cased map, single values winning over multi-values. */
export function normalizeHeaders(
  event: Pick<APIGatewayProxyEvent, 'headers' | 'multiValueHeaders'>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (values && values.length > 0) headers[name.toLowerCase()] = values.join(', ');
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  return headers;
}

/** `application/json`, with or without parameters, and the `application/*+json` family. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/** A JSON media type with no charset, or UTF-8 (RFC 8259: JSON between systems is UTF-8). */
function isUtf8Charset(contentType: string): boolean {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType)?.[1];
  return charset === undefined || /^utf-?8$/i.test(charset);
}

type Screened = Pick<
  APIGatewayProxyEvent,
  'path' | 'headers' | 'multiValueHeaders' | 'queryStringParameters' | 'multiValueQueryStringParameters'
>;

function screenNames(
  where: 'headers' | 'query',
  entries: [string, string | readonly (string | undefined)[] | undefined][],
  issues: Issue[],
): void {
  for (const [name, value] of entries) {
    if (!isWellFormed(name)) {
      issues.push({ path: where, message: 'a name is not well-formed Unicode (a lone surrogate)' });
      continue;
    }
    const key = where === 'headers' ? name.toLowerCase() : name;
    if (PROTOTYPE_KEYS.has(key)) {
      issues.push({ path: `${where}.${name}`, message: 'is a reserved name' });
      continue;
    }
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && !isWellFormed(v))) {
      issues.push({ path: `${where}.${name}`, message: 'is not well-formed Unicode (a lone surrogate)' });
    }
  }
}

/**
 * What every request must pass before anything reads it: a well-formed path, and header and query
 * names and values that are well-formed Unicode and name no prototype. Answers 400 with the reasons.
 */
export function screenRequest(event: Screened): BadRequestError | undefined {
  const issues: Issue[] = [];
  if (typeof event.path === 'string' && !isWellFormed(event.path)) {
    issues.push({ path: 'path', message: 'is not well-formed Unicode (a lone surrogate)' });
  }
  const list = <V>(record: Record<string, V> | null | undefined) => Object.entries(record ?? {});
  screenNames('headers', [...list(event.headers), ...list(event.multiValueHeaders)], issues);
  screenNames(
    'query',
    [...list(event.queryStringParameters), ...list(event.multiValueQueryStringParameters)],
    issues,
  );
  if (issues.length === 0) return undefined;
  const unique = [...new Map(issues.map((issue) => [`${issue.path}|${issue.message}`, issue])).values()];
  return new BadRequestError('The request is invalid', { errors: unique });
}

/**
 * Walks a parsed body once, bounded by {@link MAX_REQUEST_DEPTH} (so it never recurses deeper than
 * that, whatever the body), and reports what no schema check should ever meet: excessive nesting,
 * non-finite numbers, lone surrogates in keys or strings, prototype-like keys, and two spellings of
 * one key (`customer_id` and `customerId`).
 */
export function inspectBody(value: unknown): Issue[] {
  const issues: Issue[] = [];
  const walk = (node: unknown, path: PropertyKey[], depth: number) => {
    if (typeof node === 'string') {
      if (!isWellFormed(node)) {
        issues.push({ path: formatPath(path), message: 'is not well-formed Unicode (a lone surrogate)' });
      }
      return;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) issues.push({ path: formatPath(path), message: 'is not a finite number' });
      return;
    }
    if (node === null || typeof node !== 'object') return;
    if (depth >= MAX_REQUEST_DEPTH) {
      issues.push({ path: formatPath(path), message: `is nested deeper than ${MAX_REQUEST_DEPTH} levels` });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, index) => {
        walk(item, [...path, index], depth + 1);
      });
      return;
    }
    const spellings = new Map<string, string>();
    for (const [key, child] of Object.entries(node)) {
      if (!isWellFormed(key)) {
        issues.push({ path: formatPath(path), message: 'has a key that is not well-formed Unicode' });
        continue;
      }
      if (PROTOTYPE_KEYS.has(key)) {
        issues.push({ path: formatPath([...path, key]), message: 'is a reserved name' });
        continue;
      }
      const canonical = snakeToCamel(key);
      const other = spellings.get(canonical);
      if (other !== undefined) {
        issues.push({ path: formatPath([...path, key]), message: `is given twice (also as "${other}")` });
      }
      spellings.set(canonical, key);
      walk(child, [...path, key], depth + 1);
    }
  };
  walk(value, [], 0);
  return issues;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export type JsonBody = { ok: true; body: unknown } | { ok: false; error: HttpError };

const refused = (error: HttpError): JsonBody => ({ ok: false, error });

/**
 * A request's JSON body, or the 4xx that says why not: content type (415), size (413), UTF-8 and JSON
 * (400), and the body's shape (depth, numbers, Unicode, prototype-like keys) before anything recursive
 * sees it. An empty body is `undefined` when `optional`, else a 400.
 */
export function readJsonBody(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  headers: Readonly<Record<string, string>>,
  options: { optional?: boolean; maxBytes?: number; invalid?: string } = {},
): JsonBody {
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const invalidMessage = options.invalid ?? 'The request is invalid';
  const empty = event.body === null || event.body.length === 0;
  if (empty && options.optional) return { ok: true, body: undefined };
  const contentType = headers['content-type'];
  if (!isJsonContentType(contentType) || !isUtf8Charset(contentType ?? '')) {
    return refused(new UnsupportedMediaTypeError('Content-Type must be application/json, in UTF-8'));
  }
  if (event.body !== null && !event.isBase64Encoded && !isWellFormed(event.body)) {
    return refused(new BadRequestError('The request body is not well-formed Unicode'));
  }
  const bytes =
    event.body === null
      ? Buffer.alloc(0)
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (bytes.length > maxBytes) {
    return refused(new PayloadTooLargeError(`The request body is larger than ${maxBytes} bytes`));
  }
  if (bytes.length === 0) {
    const errors = [{ path: '', message: 'the request body is empty' }];
    return refused(new BadRequestError(invalidMessage, { errors }));
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return refused(new BadRequestError('The request body is not valid UTF-8'));
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return refused(new BadRequestError('The request body is not valid JSON'));
  }
  // The walk is bounded; schemas (which recurse) only see bodies that passed it.
  const shape = inspectBody(body);
  if (shape.length > 0) return refused(new BadRequestError(invalidMessage, { errors: shape }));
  return { ok: true, body };
}
