/**
 * A client of the order API that signs every request with SigV4 (service `execute-api`), as API Gateway's
 * AWS_IAM authorization requires: the AWS SDK's own signer (@smithy/signature-v4), with credentials from a
 * provider (the default chain on AWS, the local ones against `npm start -- --iam`).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: unknown;
}

export type ApiClient = ReturnType<typeof apiClient>;

/** Requests to `baseUrl` (the stack's `ApiUrl`, stage included, or the local emulator's), signed by `signer`. */
function apiClient(baseUrl: string, signer?: SignatureV4) {
  return {
    async request(
      method: 'GET' | 'POST',
      path: string,
      { body, headers = {} }: { body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<ApiAnswer> {
      const url = new URL(baseUrl);
      url.pathname = `${url.pathname.replace(/\/$/, '')}${path}`; // `/v1/` + `/orders` = `/v1/orders`
      const payload = body === undefined ? undefined : JSON.stringify(body);
      let sent: Record<string, string> = {
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
      };
      if (signer) {
        const signed = await signer.sign({
          method,
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port ? { port: Number(url.port) } : {}),
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          // What fetch sends as Host: the URL's host, with its port when it is not the default.
          headers: { host: url.host, ...sent },
          body: payload,
        });
        const { host: _host, ...rest } = signed.headers;
        sent = rest;
      }
      // API Gateway's integration timeout is 29 s.
      const response = await fetch(url, {
        method,
        headers: sent,
        body: payload ?? null,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let answer: unknown = text;
      try {
        answer = text === '' ? undefined : JSON.parse(text);
      } catch {
        // Not JSON: the text is the answer.
      }
      return { status: response.status, headers: response.headers, body: answer };
    },
  };
}

export function signedClient(options: {
  baseUrl: string;
  region: string;
  credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
}): ApiClient {
  const { baseUrl, region, credentials } = options;
  return apiClient(baseUrl, new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 }));
}

/** The same requests, unsigned: what an unauthenticated caller gets (a 403 on the signed routes). */
export const unsignedClient = (baseUrl: string): ApiClient => apiClient(baseUrl);
