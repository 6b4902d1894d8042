import { isUtf8 } from 'node:buffer';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  type IncomingMessage,
  type Server,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { orderApiOpenApi } from '../../functions/order-api/openapi.ts';
import { manifest } from '../../topology/manifest.ts';
import type { HttpRoute } from '../../topology/types.ts';
import { type ListenerTimeouts, safeHttpServer, sendJson } from './http-listener.ts';
import {
  type FunctionIdentity,
  type Invoker,
  LOCAL_ACCOUNT_ID,
  raceTimeout,
  TIMED_OUT,
} from './lambda-context.ts';
import {
  MISSING_TOKEN,
  type ReceivedRequest,
  type SigV4VerifierOptions,
  sigV4Verifier,
} from './sigv4-verifier.ts';

/** API Gateway's maximum request payload. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** API Gateway's default (maximum) integration timeout for REST APIs. */
export const INTEGRATION_TIMEOUT_MS = 29_000;

/** A route; `auth: 'iam'` needs a SigV4 signature when the emulator verifies them (`iam`). */
export type ApiRoute = Pick<HttpRoute, 'method' | 'resource'> & Partial<Pick<HttpRoute, 'auth'>>;

/** The resources and methods of the REST API in front of order-api, as the manifest declares them. */
export const orderApiRoutes: readonly ApiRoute[] = manifest.functions['order-api'].trigger.routes;

/** The stage of every local request (`v1` on AWS). */
const STAGE = 'local';

export interface ApiEmulatorOptions extends FunctionIdentity {
  invoke: Invoker<APIGatewayProxyEvent, unknown>;
  /** On 127.0.0.1 (the local API is never exposed); defaults to 3000, 0 picks a free port. */
  port?: number;
  log: (line: string) => void;
  timeouts?: ListenerTimeouts;
  /**
   * API Gateway's AWS_IAM authorization: the routes whose `auth` is `iam` need a SigV4 signature by these
   * credentials (service `execute-api`, this region), else 403 as on AWS. Off when absent: anything passes.
   */
  iam?: SigV4VerifierOptions;
}

export type RunningApi = Awaited<ReturnType<typeof startApiEmulator>>;

interface MatchedRoute {
  route: ApiRoute;
  pathParameters: Record<string, string> | null;
}

/**
 * Segments of a path: one trailing slash is ignored, an empty segment inside (`/orders//1`) is kept, so
 * it matches no resource, as with API Gateway. Nothing is normalised (`..`, `\`): a path is what it says.
 */
function segmentsOf(path: string): string[] {
  const segments = path.split('/').slice(1);
  if (segments.length > 1 && segments.at(-1) === '') segments.pop();
  return segments.length === 1 && segments[0] === '' ? [] : segments;
}

/** The route a request matches, as API Gateway would match it (tests build proxy events with it too). */
export function matchRoute(
  routes: readonly ApiRoute[],
  method: string,
  path: string,
): MatchedRoute | undefined {
  const segments = segmentsOf(path);
  for (const route of routes) {
    if (route.method !== method) continue;
    const template = route.resource.split('/').filter(Boolean);
    if (template.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = template.every((part, i) => {
      const segment = segments[i] as string;
      const param = /^\{(\w+)\}$/.exec(part);
      if (param) {
        // Decodable: the request target was checked before routing. (The names are the manifest's.)
        params[param[1] as string] = decodeURIComponent(segment);
        return segment !== '';
      }
      return part === segment;
    });
    if (matches) return { route, pathParameters: Object.keys(params).length > 0 ? params : null };
  }
  return undefined;
}

/**
 * Name/value pairs as API Gateway passes them: the last value of a name, and every value of it. As own
 * properties whatever the name (Object.fromEntries defines them): `record[name] = value` with a client's
 * `__proto__` would set the prototype instead. The Lambda runtime's JSON.parse gives own properties too.
 */
function grouped(pairs: readonly (readonly [string, string])[]) {
  const all = new Map<string, string[]>();
  for (const [name, value] of pairs) all.set(name, [...(all.get(name) ?? []), value]);
  return { last: Object.fromEntries(pairs), all: Object.fromEntries(all), empty: all.size === 0 };
}

type RequestTarget = Pick<ReceivedRequest, 'path' | 'query'>;

/**
 * The path (as sent) and query (decoded) of origin-form (`/orders?x=1`) and absolute-form
 * (`http://host/orders`) targets, not normalised; undefined for one API Gateway would refuse (400):
 * `*` and other forms, and percent-encoding that is malformed or not UTF-8 (in the path or the query),
 * which `decodeURIComponent` would throw on later.
 */
export function parseRequestTarget(target: string): RequestTarget | undefined {
  const absolute = /^https?:\/\/[^/?#]*(.*)$/i.exec(target);
  const parts = /^([^?#]*)(?:\?([^#]*))?/.exec(absolute ? absolute[1] || '/' : target);
  const [, path = '', rawQuery = ''] = parts ?? [];
  if (!path.startsWith('/')) return undefined;
  try {
    decodeURIComponent(path);
    decodeURIComponent(rawQuery);
  } catch {
    return undefined;
  }
  return { path, query: [...new URLSearchParams(rawQuery)] };
}

/**
 * Reads the body; past API Gateway's limit the rest is drained and dropped. Undefined when the client went
 * away (or sent a malformed chunk) before the end: nobody to answer.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | 'too large' | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  if (!req.complete) return undefined;
  return size > MAX_REQUEST_BYTES ? 'too large' : Buffer.concat(chunks);
}

/** The request time in API Gateway's format, e.g. `24/Nov/2026:10:00:00 +0000`. */
function requestTime(date: Date): string {
  const [, day, month, year, time] = date.toUTCString().split(' ');
  return `${day}/${month}/${year}:${time} +0000`;
}

type RequestFacts = ReceivedRequest & { sourceIp: string; localPort: number };

/**
 * A REST API (v1) Lambda proxy integration event, as API Gateway builds it: header names keep the
 * client's case, `headers` holds the last value of a repeated header and `multiValueHeaders` all of
 * them, empty query strings and path parameters are null.
 *
 * Differs from AWS: no binary media types are configured, so a body that is valid UTF-8 is passed as
 * text and anything else base64-encoded (API Gateway would pass such bytes through as mangled text).
 */
export function toProxyEvent(
  request: RequestFacts,
  matched: MatchedRoute,
  apiId: string,
  /** The access key of a verified SigV4 signature: API Gateway names the IAM caller in the identity. */
  accessKey?: string,
): APIGatewayProxyEvent {
  const raw = request.rawHeaders;
  const traceId = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  const { last: headers, all: multiValueHeaders } = grouped([
    ...raw.flatMap((name, i) =>
      i % 2 === 0 && i + 1 < raw.length ? [[name, raw[i + 1] as string] as const] : [],
    ),
    ['X-Amzn-Trace-Id', traceId],
    ['X-Forwarded-For', request.sourceIp],
    ['X-Forwarded-Port', String(request.localPort)],
    ['X-Forwarded-Proto', 'http'],
  ]);
  const query = grouped(request.query);
  const empty = request.body.length === 0;
  const binary = !empty && !isUtf8(request.body);
  const now = new Date();
  const userAgent = headers['User-Agent'] ?? headers['user-agent'] ?? null;
  return {
    resource: matched.route.resource,
    path: request.path,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: query.empty ? null : query.last,
    multiValueQueryStringParameters: query.empty ? null : query.all,
    pathParameters: matched.pathParameters,
    stageVariables: null,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId,
      authorizer: undefined,
      domainName: headers.Host ?? headers.host ?? `127.0.0.1:${request.localPort}`,
      domainPrefix: apiId,
      extendedRequestId: randomBytes(8).toString('base64url'),
      httpMethod: request.method,
      identity: {
        accessKey: accessKey ?? null,
        accountId: accessKey ? LOCAL_ACCOUNT_ID : null,
        apiKey: null,
        apiKeyId: null,
        caller: accessKey ?? null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: accessKey ?? null,
        userAgent,
        userArn: accessKey ? LOCAL_CALLER_ARN : null,
      },
      path: `/${STAGE}${request.path}`,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTime: requestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: randomBytes(3).toString('hex'),
      resourcePath: matched.route.resource,
      stage: STAGE,
    },
    body: empty ? null : request.body.toString(binary ? 'base64' : 'utf8'),
    isBase64Encoded: binary,
  };
}

function isProxyResult(value: unknown): value is APIGatewayProxyResult {
  if (value === null || typeof value !== 'object') return false;
  const { statusCode, body } = value as { statusCode?: unknown; body?: unknown };
  return (
    Number.isInteger(statusCode) &&
    (statusCode as number) >= 100 &&
    (statusCode as number) <= 599 &&
    (body === undefined || body === null || typeof body === 'string')
  );
}

/** Headers an integration may not set: API Gateway frames the response itself. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection']);

/** The integration's headers as Node writes them, or undefined when one is not a valid HTTP header. */
function responseHeadersOf(result: APIGatewayProxyResult): Record<string, string | string[]> | undefined {
  const entries: [string, string | string[]][] = [
    ...Object.entries(result.multiValueHeaders ?? {}).map(([name, values]): [string, string[]] => [
      name,
      (Array.isArray(values) ? values : [values]).map(String),
    ]),
    ...Object.entries(result.headers ?? {}).map(([name, value]): [string, string] => [name, String(value)]),
  ];
  const kept = entries.filter(([name]) => !FRAMING_HEADERS.has(name.toLowerCase()));
  try {
    for (const [name, value] of kept) {
      validateHeaderName(name);
      for (const v of Array.isArray(value) ? value : [value]) validateHeaderValue(name, v);
    }
  } catch {
    return undefined;
  }
  return Object.fromEntries(kept);
}

/** The IAM user a verified signature stands for locally: there is one, whose credentials the emulator checks. */
export const LOCAL_CALLER_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/local`;

/**
 * Invokes the function with the event and writes its proxy result back: 502 when it fails or answers a
 * malformed result, 504 past the 29 s integration timeout.
 */
async function integrate(
  res: ServerResponse,
  event: APIGatewayProxyEvent,
  invoke: ApiEmulatorOptions['invoke'],
  log: (why: string) => void,
): Promise<void> {
  const { requestId } = event.requestContext;
  const answer = (status: number, message: string) =>
    sendJson(res, status, { message }, { 'x-amzn-RequestId': requestId });
  const outcome = await raceTimeout(invoke(event), INTEGRATION_TIMEOUT_MS);
  if (outcome === TIMED_OUT) return answer(504, 'Endpoint request timed out');
  const result = outcome.status === 'ok' && isProxyResult(outcome.payload) ? outcome.payload : undefined;
  const headers = result && responseHeadersOf(result);
  if (!result || !headers) {
    log(
      outcome.status === 'error'
        ? `failed: ${outcome.errorType}: ${outcome.errorMessage}`
        : 'malformed Lambda proxy response (status or headers)',
    );
    return answer(502, 'Internal server error');
  }
  const payload = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  // API Gateway answers application/json when the integration names no content type.
  const typed = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  res.writeHead(result.statusCode, {
    ...(typed ? {} : { 'Content-Type': 'application/json' }),
    ...headers,
    'x-amzn-RequestId': requestId,
    'Content-Length': String(payload.length),
  });
  res.end(payload);
}

/**
 * Serves a Lambda proxy integration the way an API Gateway REST API does: routes are matched by method
 * and resource (anything else gets API Gateway's 403 `Missing Authentication Token`), the `iam` routes
 * need a SigV4 signature when `iam` is set (403 otherwise, as AWS_IAM authorization answers), bodies over
 * 10 MB get 413, a handler that throws, times out or returns a malformed result gets 502, and an
 * invocation longer than the 29 s integration timeout gets 504.
 */
export async function startApiEmulator(options: ApiEmulatorOptions) {
  const apiId = randomBytes(5).toString('hex');
  const verify = options.iam ? sigV4Verifier(options.iam) : undefined;

  // What /openapi.json names as this server: the address it listens on, never the client's Host header.
  let listenUrl = '';
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const refuse = (status: number, message: string, headers: Record<string, string> = {}) =>
      sendJson(res, status, { message }, { 'x-amzn-RequestId': randomUUID(), ...headers });
    const target = parseRequestTarget(req.url ?? '');
    const method = (req.method ?? 'GET').toUpperCase();
    if (!target) return refuse(400, 'Bad Request', { Connection: 'close' });
    if (method === 'GET' && target.path === '/openapi.json') {
      const local = { url: listenUrl, description: 'This local emulator' };
      const document = orderApiOpenApi({ local: true, servers: [local] });
      return sendJson(res, 200, document, { 'x-amzn-RequestId': randomUUID() });
    }
    // A declared length over the limit is refused before reading anything, like API Gateway does.
    if (Number(req.headers['content-length']) > MAX_REQUEST_BYTES)
      return refuse(413, 'Request Too Long', { Connection: 'close' });
    const body = await readBody(req);
    if (!body) return void res.destroy();
    if (body === 'too large') return refuse(413, 'Request Too Long');
    const matched = matchRoute(orderApiRoutes, method, target.path);
    if (!matched)
      return refuse(403, MISSING_TOKEN, { 'x-amzn-ErrorType': 'MissingAuthenticationTokenException' });
    const received = { method, ...target, rawHeaders: req.rawHeaders, body };
    const verdict = verify && matched.route.auth === 'iam' ? await verify(received) : undefined;
    if (verdict && !verdict.ok)
      return refuse(403, verdict.message, { 'x-amzn-ErrorType': verdict.errorType });
    const { remoteAddress = '127.0.0.1', localPort = 0 } = req.socket;
    const request = { ...received, sourceIp: remoteAddress, localPort };
    const event = toProxyEvent(request, matched, apiId, verdict?.accessKeyId);
    await integrate(res, event, options.invoke, (why) =>
      options.log(`[api] ${method} ${target.path}: ${options.functionName} ${why}`),
    );
  };

  // Requests Node's parser refuses (bad framing, control characters, unknown methods, huge headers) get
  // a JSON 4xx like API Gateway's, stalled ones 408; CONNECT names no resource of the API.
  const server: Server = safeHttpServer(handle, {
    name: 'api',
    log: options.log,
    timeouts: options.timeouts,
    connect: { status: 403, message: MISSING_TOKEN },
  });
  server.listen(options.port ?? 3000, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  listenUrl = `http://127.0.0.1:${port}`;
  return {
    url: listenUrl,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
