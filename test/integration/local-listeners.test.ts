/**
 * Every listener `npm start` opens (the API emulator, the dashboard) against malformed and hostile
 * clients, over raw sockets: a 4xx and still up, never a thrown listener that stops the whole process;
 * stalled requests get 408; an event-stream client that never reads is dropped; replay markers on the
 * dead-letter topic are no dead letters.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import { DeadLetterReplayed } from '../../events/schemas/dead-letter-replayed.ts';
import { count, kpiRecord } from '../../functions/shared/kpis.ts';
import { KafkaState } from '../../local/dashboard/kafka-state.ts';
import { type RunningDashboard, startDashboard } from '../../local/dashboard/server.ts';
import { type RunningApi, startApiEmulator } from '../../local/runtime/api-emulator.ts';
import { safeHttpServer } from '../../local/runtime/http-listener.ts';
import { functionLetter } from '../../tools/dlq/testing.ts';
import { manifest } from '../../topology/manifest.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import { testInfra } from '../support/env.ts';
import { createTopics, produce, waitFor } from '../support/kafka.ts';

interface Answer {
  status: number;
  body: string;
}

/** Sends bytes on a fresh connection and reads the answer's status and body. */
function rawRequest(port: number, bytes: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes, 'latin1'));
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    const done = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const head = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(text);
      if (!head) return false;
      const length = Number(/content-length: *(\d+)/i.exec(head[2] ?? '')?.[1] ?? Number.NaN);
      const body = text.slice(head[0].length);
      if (!Number.isFinite(length) || body.length < length) return false;
      socket.destroy();
      resolve({ status: Number(head[1]), body: body.slice(0, length) });
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      done();
    });
    socket.on('close', () => {
      if (!done())
        reject(new Error(`closed without an answer: ${Buffer.concat(chunks).toString().slice(0, 80)}`));
    });
    socket.on('error', reject);
  });
}

const get = (target: string, headers = 'Host: x\r\n') => `GET ${target} HTTP/1.1\r\n${headers}\r\n`;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

describe('the shared safe listener', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('answers 500 to a handler that throws, rejects or writes after its end, and stays up', async () => {
    const logged: string[] = [];
    server = safeHttpServer(
      (request, response) => {
        if (request.url === '/throw') throw new Error('synchronous');
        if (request.url === '/reject') return Promise.reject(new Error('asynchronous'));
        if (request.url === '/twice') {
          response.end('once');
          response.write('twice');
          return;
        }
        response.writeHead(200, { 'content-length': '2' }).end('ok');
      },
      { name: 'test', log: (line) => logged.push(line) },
    );
    const port = await listen(server);
    expect((await rawRequest(port, get('/throw'))).status).toBe(500);
    expect((await rawRequest(port, get('/reject'))).status).toBe(500);
    expect(await rawRequest(port, get('/twice'))).toEqual({ status: 200, body: 'once' });
    expect(await rawRequest(port, get('/'))).toEqual({ status: 200, body: 'ok' });
    expect(logged).toEqual([expect.stringContaining('synchronous'), expect.stringContaining('asynchronous')]);
  });
});

describe('the dashboard listener', () => {
  const { kafkaBrokers } = testInfra();
  let dashboard: RunningDashboard | undefined;
  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
  });

  const start = async (options: Partial<Parameters<typeof startDashboard>[0]> = {}) => {
    dashboard = await startDashboard({ kafkaBrokers, port: 0, log: () => undefined, ...options });
    return Number(new URL(dashboard.url).port);
  };

  it.each([
    ['the request that stopped the stack', get('//['), 404],
    ['malformed percent-encoding', get('/api/%zz'), 400],
    ['a target that is not a path', get('events'), 400],
    ['the asterisk form', get('*'), 400],
    ['a control character in a header', get('/', 'Host: x\r\nX-A: a\x01b\r\n'), 400],
    ['a 20 KB header', get('/', `Host: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n`), 431],
    ['a method HTTP does not know', 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['a POST', 'POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}', 405],
    ['CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', 405],
    ['no request line', 'hello\r\n\r\n', 400],
  ])('answers %s with a 4xx and stays up', async (_, request, status) => {
    const port = await start();
    expect((await rawRequest(port, request)).status).toBe(status);
    const snapshot = await rawRequest(port, get('/api/snapshot'));
    expect(snapshot.status).toBe(200);
    expect(JSON.parse(snapshot.body)).toHaveProperty('counts');
  });

  it('answers 408 to a client that stalls its headers', async () => {
    const port = await start({ timeouts: { headersMs: 200, requestMs: 400 } });
    expect((await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n')).status).toBe(408);
    expect((await rawRequest(port, get('/api/snapshot'))).status).toBe(200);
  });

  it('drops an event-stream client that never reads, and keeps serving the one that does', async () => {
    const port = await start({ pushEveryMs: 1, sse: { maxClients: 4, maxMissedFrames: 3 } });
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(get('/events'));
          resolve(socket);
        });
        socket.on('error', reject);
      });
    const stalled = await open();
    stalled.pause();
    const reading = await open();
    let received = 0;
    reading.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1').split('\n\n').length - 1;
    });
    await waitFor(async () => dashboard?.streams() === 2, 'both streams to open');
    // Large frames (a hundred orders with their timelines), pushed as fast as the pace allows.
    const orderIds = Array.from({ length: 100 }, () => randomUUID());
    let batch = 0;
    while ((dashboard?.streams() ?? 0) > 1) {
      const encoded = kpiRecord(
        'notification',
        `n|${batch++}`,
        orderIds.map((orderId) => ({ orderId, kpis: [count('NotificationsDelivered')] })),
        new Date(Date.now() + batch),
      );
      const decoded = encoded && decode('KPIs', encoded.value);
      if (!decoded?.ok) throw new Error('not a KPI record');
      dashboard?.aggregator.record([decoded.event]);
      await tick();
    }
    expect(dashboard?.streams()).toBe(1);
    const before = received;
    dashboard?.aggregator.record([]);
    await waitFor(async () => received > before, 'the reading client to get the next frame');
    reading.destroy();
    stalled.destroy();
  });

  it("counts the dead-letter topic's letters, not dlq:replay's markers", async () => {
    await createTopics(kafkaBrokers, {
      [deadLetterTopic]: manifest.topics[deadLetterTopic].partitions,
    }).catch(() => undefined);
    const state = new KafkaState(kafkaBrokers);
    try {
      const before = (await state.read()).deadLettersOnTopic;
      const key = `order-${randomUUID().slice(0, 8)}`;
      const marker = DeadLetterReplayed.parse({
        eventId: randomUUID(),
        eventType: 'DeadLetterReplayed',
        version: 1,
        occurredAt: new Date().toISOString(),
        correlationId: key,
        causationId: `${deadLetterTopic}:0:0`,
        source: 'dlq-replay',
        data: {
          letter: { topic: deadLetterTopic, partition: 0, offset: '0' },
          original: { topic: 'Notification', partition: 0, offset: '7' },
          valueFrom: 'dead-letter',
        },
      });
      await produce([
        {
          topic: deadLetterTopic,
          key,
          value: functionLetter({
            key,
            topic: 'Notification',
            partition: 0,
            offset: 7n,
            value: Buffer.from('{}'),
          }),
        },
        {
          topic: deadLetterTopic,
          key,
          value: JSON.stringify(marker),
          headers: { 'event-type': marker.eventType },
        },
        {
          topic: deadLetterTopic,
          key,
          value: JSON.stringify(marker),
          headers: { 'event-type': marker.eventType },
        },
      ]);
      let after = before;
      await waitFor(async () => {
        after = (await state.read()).deadLettersOnTopic;
        return after !== before;
      }, 'the dashboard to read the new records');
      expect(after - before).toBe(1);
    } finally {
      await state.close();
    }
  });
});

describe('the API emulator listener', () => {
  let api: RunningApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  const start = async () => {
    const ok = { statusCode: 200, body: '{}' };
    const options = {
      functionName: 'order-api',
      memoryMb: 128,
      timeoutSeconds: 5,
      port: 0,
      log: () => undefined,
      timeouts: { headersMs: 200, requestMs: 400 },
      invoke: async () => ({ status: 'ok' as const, requestId: randomUUID(), payload: ok }),
    };
    api = await startApiEmulator(options);
    return api.port;
  };

  it('answers 408 to a body that stalls, and to headers that do, then serves the next request', async () => {
    const port = await start();
    const stalledBody = 'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"partial":';
    const answer = await rawRequest(port, stalledBody);
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toEqual({ message: 'Request Timeout' });
    expect((await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: x\r\n')).status).toBe(408);
    expect((await rawRequest(port, get('/health'))).status).toBe(200);
  });

  it("names its own listen address in /openapi.json, never the request's Host", async () => {
    const port = await start();
    const answer = await rawRequest(port, get('/openapi.json', 'Host: evil.example\r\n'));
    expect(answer.status).toBe(200);
    const spec = JSON.parse(answer.body) as { servers: { url: string }[] };
    expect(spec.servers[0]?.url).toBe(`http://127.0.0.1:${port}`);
    expect(answer.body).not.toContain('evil.example');
  });
});
