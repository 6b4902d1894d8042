import { connect } from 'node:net';
import { APIGatewayProxyEventSchema } from '@aws-lambda-powertools/parser/schemas';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES, type RunningApi } from '../../local/runtime/api-emulator.ts';
import type { LambdaHandler } from '../../local/runtime/lambda-context.ts';
import { startTestApi } from '../support/api.ts';

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
    api = await startTestApi(handler, { memoryMb: 512, timeoutSeconds });
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

/** Sends bytes on a fresh connection and reads the whole answer (the emulator closes malformed ones). */
function rawRequest(port: number, bytes: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('latin1');
      const head = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(text);
      if (!head) return;
      const length = Number(/content-length: *(\d+)/i.exec(head[2] ?? '')?.[1] ?? Number.NaN);
      const body = text.slice(head[0].length);
      // An interim 100 Continue is followed by the real answer.
      if (head[1] === '100') return;
      if (Number.isFinite(length) && Buffer.byteLength(body, 'latin1') >= length) {
        socket.end();
        resolve({ status: Number(head[1]), body: body.slice(0, length) });
      }
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      if (status) resolve({ status: Number(status), body: text.split('\r\n\r\n')[1] ?? '' });
      else reject(new Error(`connection closed without an answer: ${JSON.stringify(text.slice(0, 80))}`));
    });
    socket.on('error', reject);
  });
}

const line = (target: string, headers = 'Host: x\r\n', method = 'GET') =>
  `${method} ${target} HTTP/1.1\r\n${headers}\r\n`;
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))),
  );

describe('API emulator: malformed requests get a 4xx as from API Gateway, never a 5xx', () => {
  let api: RunningApi | undefined;
  const seen: APIGatewayProxyEvent[] = [];

  afterEach(async () => {
    await api?.close();
    api = undefined;
    seen.length = 0;
  });

  async function start(handler?: Handler): Promise<number> {
    api = await startTestApi(
      handler ??
        (async (event) => {
          seen.push(event);
          return { statusCode: 200, body: '{}' };
        }),
    );
    return api.port;
  }

  it.each([
    ['malformed percent-encoding in the path', line('/orders/%zz'), 400],
    ['a truncated percent-escape', line('/orders/%E0%A4%A'), 400],
    ['percent-encoded bytes that are not UTF-8 (a surrogate)', line('/orders/%ED%A0%80'), 400],
    ['a percent-encoded query that is not UTF-8', line('/health?a=%FF'), 400],
    [
      'raw non-UTF-8 bytes in the query',
      bytes('GET /health?a=', [0xff, 0xfe], ' HTTP/1.1\r\nHost: x\r\n\r\n'),
      400,
    ],
    ['raw non-UTF-8 bytes in the path', bytes('GET /orders/', [0xff], ' HTTP/1.1\r\nHost: x\r\n\r\n'), 400],
    ['the asterisk form', line('*', 'Host: x\r\n', 'OPTIONS'), 400],
    ['a target that is not a path', line('orders'), 400],
    ['the root path //', line('//'), 403],
    ['a path starting with //', line('//orders'), 403],
    ['an empty segment', line('/orders//1'), 403],
    ['a dot segment (not resolved)', line('/orders/../health'), 403],
    ['a backslash (not a slash)', line('/orders\\1'), 403],
    ['a control character in the path', line('/orders/\x01'), 400],
    ['a control character in a header', line('/health', 'Host: x\r\nX-A: a\x01b\r\n'), 400],
    [
      'a Content-Length that is not a number',
      line('/orders', 'Host: x\r\nContent-Length: abc\r\n', 'POST'),
      400,
    ],
    ['a negative Content-Length', line('/orders', 'Host: x\r\nContent-Length: -1\r\n', 'POST'), 400],
    [
      'two different Content-Lengths',
      line('/orders', 'Host: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n', 'POST'),
      400,
    ],
    [
      'Content-Length and chunked together',
      line('/orders', 'Host: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n', 'POST'),
      400,
    ],
    [
      'a malformed chunk',
      `${line('/orders', 'Host: x\r\nTransfer-Encoding: chunked\r\n', 'POST')}zz\r\n{}\r\n0\r\n\r\n`,
      400,
    ],
    ['a Content-Length over 10 MB', line('/orders', 'Host: x\r\nContent-Length: 10485761\r\n', 'POST'), 413],
    ['a 20 KB header', line('/health', `Host: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n`), 431],
    ['a method HTTP does not know', line('/orders', 'Host: x\r\n', 'FOO'), 400],
    ['a method the API has no route for', line('/orders', 'Host: x\r\n', 'PATCH'), 403],
    ['CONNECT', line('evil.example:443', 'Host: evil.example:443\r\n', 'CONNECT'), 403],
    ['an unknown HTTP version', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n', 400],
    ['no request line at all', 'hello\r\n\r\n', 400],
  ])('%s → %i, without invoking the function', async (_, request, status) => {
    const port = await start();
    const answer = await rawRequest(port, request);
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.body)).toEqual({ message: expect.any(String) });
    expect(seen).toHaveLength(0);
  });

  it('routes the absolute form by its path, and passes a GET with a body through', async () => {
    const port = await start();
    expect((await rawRequest(port, line('http://evil.example/orders/a1'))).status).toBe(200);
    expect(seen[0]).toMatchObject({ path: '/orders/a1', pathParameters: { id: 'a1' } });
    const get = await rawRequest(port, `${line('/health', 'Host: x\r\nContent-Length: 2\r\n')}{}`);
    expect(get.status).toBe(200);
    expect(seen[1]?.body).toBe('{}');
  });

  it('passes prototype-like header and query names as own properties, as the Lambda runtime would', async () => {
    const port = await start();
    const answer = await rawRequest(
      port,
      line('/health?__proto__=1&constructor=2&toString=3', 'Host: x\r\n__proto__: a\r\nconstructor: b\r\n'),
    );
    expect(answer.status).toBe(200);
    const event = seen[0]!;
    expect(Object.getPrototypeOf(event.headers)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(event.headers, '__proto__')?.value).toBe('a');
    expect(Object.getOwnPropertyDescriptor(event.multiValueHeaders, 'constructor')?.value).toEqual(['b']);
    expect(JSON.stringify(event.queryStringParameters)).toBe(
      '{"__proto__":"1","constructor":"2","toString":"3"}',
    );
    expect(
      Object.getOwnPropertyDescriptor(event.multiValueQueryStringParameters, '__proto__')?.value,
    ).toEqual(['1']);
  });

  it('answers 502 to an integration response with an invalid status code or header', async () => {
    const results: APIGatewayProxyResult[] = [
      { statusCode: 42, body: '' },
      { statusCode: 700, body: '' },
      { statusCode: 200, headers: { 'X-Bad': 'a\r\nInjected: yes' }, body: '' },
      { statusCode: 200, headers: { 'Bad Name': 'x' }, body: '' },
      { statusCode: 200, multiValueHeaders: { 'X-A': ['ok', 'b\nc'] }, body: '' },
    ];
    let next = 0;
    const port = await start(async () => results[next++] as APIGatewayProxyResult);
    for (const result of results) {
      const answer = await rawRequest(port, line('/health'));
      expect(answer.status, JSON.stringify(result)).toBe(502);
    }
  });

  it("frames the response itself: an integration's Content-Length is ignored", async () => {
    const port = await start(async () => ({
      statusCode: 200,
      headers: { 'content-length': '999' },
      body: 'ok',
    }));
    const answer = await rawRequest(port, line('/health'));
    expect(answer).toEqual({ status: 200, body: 'ok' });
  });

  it('survives a client that goes away mid-body, then serves the next request', async () => {
    const port = await start();
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(line('/orders', 'Host: x\r\nContent-Length: 100\r\n', 'POST'));
        socket.end('{"partial":');
      });
      socket.on('close', () => resolve());
      socket.resume();
    });
    expect((await rawRequest(port, line('/health'))).status).toBe(200);
  });
});
