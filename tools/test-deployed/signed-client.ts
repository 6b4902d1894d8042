/**
 * A client of the order API that signs every request with SigV4 (service `execute-api`), as API Gateway's
 * AWS_IAM authorization requires: the AWS SDK's own signer (@smithy/signature-v4), with credentials from a
 * provider (the default chain on AWS, the local ones against `npm start -- --iam`).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: unknown;
}

export interface ApiClient {
  readonly baseUrl: string;
  request(
    method: 'GET' | 'POST',
    path: string,
    options?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
}

export interface SignedClientOptions {
  /** The API's base URL: the stack's `ApiUrl` (stage included), or the local emulator's. */
  baseUrl: string;
  region: string;
  credentials: Credentials | (() => Promise<Credentials>);
  /** Per request; API Gateway's integration timeout is 29 s. */
  timeoutMs?: number;
}

async function answerOf(response: Response): Promise<ApiAnswer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: the text is the answer.
  }
  return { status: response.status, headers: response.headers, body };
}

/** `path` appended to the base URL's path (`/v1/` + `/orders` = `/v1/orders`). */
export function urlOf(baseUrl: string, path: string): URL {
  const base = new URL(baseUrl);
  base.pathname = `${base.pathname.replace(/\/$/, '')}${path}`;
  return base;
}

export function signedClient(options: SignedClientOptions): ApiClient {
  const signer = new SignatureV4({
    service: 'execute-api',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
  });
  return {
    baseUrl: options.baseUrl,
    async request(method, path, { body, headers = {} } = {}) {
      const url = urlOf(options.baseUrl, path);
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const signed = await signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: {
          // What fetch sends as Host: the URL's host, with its port when it is not the default.
          host: url.host,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
        },
        ...(payload === undefined ? {} : { body: payload }),
      });
      const { host: _host, ...sent } = signed.headers;
      const response = await fetch(url, {
        method,
        headers: sent,
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
      return answerOf(response);
    },
  };
}

/** The same requests, unsigned: what an unauthenticated caller gets (a 403 on the signed routes). */
export function unsignedClient(baseUrl: string): ApiClient {
  return {
    baseUrl,
    async request(method, path, { body, headers = {} } = {}) {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const response = await fetch(urlOf(baseUrl, path), {
        method,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(30_000),
      });
      return answerOf(response);
    },
  };
}
