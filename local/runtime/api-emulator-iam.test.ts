/**
 * The API emulator with AWS_IAM authorization on (`npm start -- --iam`): the manifest's signed routes need
 * a SigV4 signature by the configured credentials, `GET /health` stays open, and a verified caller is
 * named in the proxy event's identity, as API Gateway does.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectWrongSecretRefused, startTestApi } from '../../test/support/api.ts';
import { signedClient, unsignedClient } from '../../tools/test-deployed/signed-client.ts';
import { LOCAL_CALLER_ARN, type RunningApi } from './api-emulator.ts';

const credentials = { accessKeyId: 'AKIDEMULATORTEST', secretAccessKey: 'emulator-secret' };
const region = 'eu-central-1';

describe('API emulator with IAM (SigV4) authorization', () => {
  let api: RunningApi;
  const events: APIGatewayProxyEvent[] = [];

  beforeAll(async () => {
    const invoke = async (event: APIGatewayProxyEvent) => {
      events.push(event);
      return { status: 'ok' as const, requestId: 'r-1', payload: { statusCode: 200, body: '{"ok":true}' } };
    };
    api = await startTestApi({ invoke }, { iam: { credentials, region } });
  });
  afterAll(() => api.close());

  it('passes a signed request on, naming the caller in the identity', async () => {
    const client = signedClient({ baseUrl: api.url, region, credentials });
    const answer = await client.request('POST', '/orders', {
      body: { a: 1 },
      headers: { 'Idempotency-Key': 'k' },
    });
    expect(answer).toMatchObject({ status: 200, body: { ok: true } });
    expect(events.at(-1)?.requestContext.identity).toMatchObject({
      accessKey: credentials.accessKeyId,
      caller: credentials.accessKeyId,
      userArn: LOCAL_CALLER_ARN,
    });
    const read = await client.request('GET', '/orders/ord-1');
    expect(read.status).toBe(200);
  });

  it('answers 403 Missing Authentication Token to an unsigned request, with the error type header', async () => {
    const seen = events.length;
    const answer = await unsignedClient(api.url).request('POST', '/orders', { body: { a: 1 } });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual({ message: 'Missing Authentication Token' });
    expect(answer.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(events.length).toBe(seen);
  });

  it('answers 403 InvalidSignatureException to a signature by another secret key', async () => {
    const answer = await expectWrongSecretRefused(
      api.url,
      { credentials, region },
      'POST',
      '/orders/ord-1/cancel',
    );
    expect((answer.body as { message: string }).message).toMatch(
      /^The request signature we calculated does not match/,
    );
  });

  it('keeps GET /health open', async () => {
    expect((await unsignedClient(api.url).request('GET', '/health')).status).toBe(200);
  });
});
