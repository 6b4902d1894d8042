import { APIGatewayProxyEventSchema } from '@aws-lambda-powertools/parser/schemas';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES, type RunningApi, startApiEmulator } from '../../local/runtime/api-emulator.ts';
import type { LambdaHandler } from '../../local/runtime/lambda-context.ts';

type Handler = LambdaHandler<APIGatewayProxyEvent, APIGatewayProxyResult>;

describe('API Gateway REST proxy emulator', () => {
  let api: RunningApi | undefined;
  const events: APIGatewayProxyEvent[] = [];
  const contexts: Context[] = [];

  const echo: Handler = async (event, context) => {
    events.push(event);
    contexts.push(context);
    return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"ok":true}' };
  };

  async function start(handler: Handler, timeoutSeconds = 10): Promise<string> {
    api = await startApiEmulator({
      functionName: 'order-api',
      memoryMb: 512,
      timeoutSeconds,
      handler,
      port: 0,
    });
    return api.url;
  }

  afterEach(async () => {
    await api?.close();
    api = undefined;
    events.length = 0;
    contexts.length = 0;
  });

  it('turns a POST into a REST API proxy event', async () => {
    const url = await start(echo);
    const response = await fetch(`${url}/orders?dryRun=true&tag=a&tag=b`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'key-1' },
      body: '{"order_id":"123"}',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(response.headers.get('x-amzn-requestid')).toBe(events[0]?.requestContext.requestId);

    const event = events[0]!;
    expect(APIGatewayProxyEventSchema.safeParse(event).success).toBe(true);
    expect(event).toMatchObject({
      resource: '/orders',
      path: '/orders',
      httpMethod: 'POST',
      body: '{"order_id":"123"}',
      isBase64Encoded: false,
      pathParameters: null,
      stageVariables: null,
      queryStringParameters: { dryRun: 'true', tag: 'b' },
      multiValueQueryStringParameters: { dryRun: ['true'], tag: ['a', 'b'] },
    });
    // Header names keep the client's case, as with API Gateway REST APIs.
    expect(event.headers['Idempotency-Key'] ?? event.headers['idempotency-key']).toBe('key-1');
    expect(event.multiValueHeaders['X-Forwarded-Proto']).toEqual(['http']);
    expect(event.requestContext).toMatchObject({
      httpMethod: 'POST',
      resourcePath: '/orders',
      path: '/local/orders',
      stage: 'local',
      protocol: 'HTTP/1.1',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(event.requestContext.identity.sourceIp).toBe('127.0.0.1');
    expect(contexts[0]?.functionName).toBe('order-api');
    expect(contexts[0]?.getRemainingTimeInMillis()).toBeLessThanOrEqual(10_000);
  });

  it('fills path parameters from the resource template and leaves empty parts null', async () => {
    const url = await start(echo);
    expect((await fetch(`${url}/orders/ord-42`)).status).toBe(200);
    expect(events[0]).toMatchObject({
      resource: '/orders/{id}',
      path: '/orders/ord-42',
      httpMethod: 'GET',
      pathParameters: { id: 'ord-42' },
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      body: null,
      isBase64Encoded: false,
    });
  });

  it('keeps the last value of a repeated header in headers and all of them in multiValueHeaders', async () => {
    const url = await start(echo);
    const headers = new Headers();
    headers.append('X-Trace', 'one');
    headers.append('X-Trace', 'two');
    await fetch(`${url}/health`, { headers });
    const event = events[0]!;
    // fetch folds repeated headers into one line, which API Gateway then also sees as one value.
    const traces = event.multiValueHeaders['x-trace'] ?? event.multiValueHeaders['X-Trace'];
    expect(traces?.join(',').replaceAll(' ', '')).toBe('one,two');
  });

  it("writes back the handler's status, headers, multi-value headers and base64 bodies", async () => {
    const url = await start(async () => ({
      statusCode: 201,
      headers: { 'Content-Type': 'image/png', Location: '/orders/1' },
      multiValueHeaders: { 'Set-Cookie': ['a=1', 'b=2'] },
      body: Buffer.from([0x89, 0x50, 0x4e, 0x47]).toString('base64'),
      isBase64Encoded: true,
    }));
    const response = await fetch(`${url}/orders`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/orders/1');
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it("answers API Gateway's 403 for an unknown resource or method, without invoking the function", async () => {
    const url = await start(echo);
    for (const [path, method] of [
      ['/nope', 'GET'],
      ['/orders', 'DELETE'],
      ['/orders/1/items', 'GET'],
    ] as const) {
      const response = await fetch(`${url}${path}`, { method });
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ message: 'Missing Authentication Token' });
    }
    expect(events).toHaveLength(0);
  });

  it('answers 502 when the function throws, times out or returns a malformed result', async () => {
    let mode: 'throw' | 'malformed' | 'slow' = 'throw';
    const url = await start(async (_event, context) => {
      if (mode === 'throw') throw new Error('boom');
      if (mode === 'slow') await new Promise((r) => setTimeout(r, context.getRemainingTimeInMillis() + 500));
      return { body: 'no status code' } as unknown as APIGatewayProxyResult;
    }, 1);
    for (const next of ['throw', 'malformed', 'slow'] as const) {
      mode = next;
      const response = await fetch(`${url}/health`);
      expect(response.status, next).toBe(502);
      expect(await response.json()).toEqual({ message: 'Internal server error' });
    }
  });

  it('passes bodies up to 10 MB and refuses bigger ones with 413 before invoking the function', async () => {
    const url = await start(async (event) => ({ statusCode: 200, body: String(event.body?.length) }));
    const justUnder = 'x'.repeat(MAX_REQUEST_BYTES - 1024);
    const ok = await fetch(`${url}/orders`, { method: 'POST', body: justUnder });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(String(justUnder.length));

    const tooBig = await fetch(`${url}/orders`, { method: 'POST', body: 'x'.repeat(MAX_REQUEST_BYTES + 1) });
    expect(tooBig.status).toBe(413);
  });

  it('passes bytes that are not UTF-8 base64-encoded', async () => {
    const url = await start(echo);
    await fetch(`${url}/orders`, { method: 'POST', body: new Uint8Array([0xff, 0xfe, 0x00]) });
    expect(events[0]).toMatchObject({
      isBase64Encoded: true,
      body: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'),
    });
  });
});
