/**
 * order-api's API emulator for a test, and the SigV4 checks every test of the `iam` mode makes: one place
 * for the emulator's test settings and for what API Gateway answers a wrong signature.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { expect } from 'vitest';
import {
  type ApiEmulatorOptions,
  type RunningApi,
  startApiEmulator,
} from '../../local/runtime/api-emulator.ts';
import { type Invoker, inProcessInvoker, type LambdaHandler } from '../../local/runtime/lambda-context.ts';
import { type ApiAnswer, type ApiClient, signedClient } from '../../tools/test-deployed/signed-client.ts';

type TestApiOptions = Partial<Pick<ApiEmulatorOptions, 'memoryMb' | 'timeoutSeconds' | 'iam'>>;

/**
 * The emulator on a free port with a silent log, for order-api of 128 MB and 5 s unless `options` say
 * otherwise: `handler` runs in-process, or `{ invoke }` answers every invocation as it likes.
 */
export function startTestApi(
  target: LambdaHandler<APIGatewayProxyEvent, unknown> | { invoke: Invoker<APIGatewayProxyEvent, unknown> },
  { iam, ...settings }: TestApiOptions = {},
): Promise<RunningApi> {
  const fn = { functionName: 'order-api' as const, memoryMb: 128, timeoutSeconds: 5, ...settings };
  const invoke = typeof target === 'function' ? inProcessInvoker(fn, target) : target.invoke;
  return startApiEmulator({ ...fn, invoke, port: 0, log: () => undefined, ...(iam ? { iam } : {}) });
}

/**
 * Signs `method path` with the right access key and another secret key: API Gateway answers 403, its error
 * type InvalidSignatureException (https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch).
 */
export async function expectWrongSecretRefused(
  baseUrl: string,
  { credentials, region }: NonNullable<ApiEmulatorOptions['iam']>,
  method: Parameters<ApiClient['request']>[0],
  path: string,
): Promise<ApiAnswer> {
  const client = signedClient({
    baseUrl,
    region,
    credentials: { ...credentials, secretAccessKey: 'not-it' },
  });
  const answer = await client.request(method, path);
  expect(answer.status).toBe(403);
  expect(answer.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
  return answer;
}
