import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FunctionName } from '../../topology/index.ts';
import { parseRequestTarget } from '../runtime/api-emulator.ts';
import { type ListenerTimeouts, safeHttpServer, sendJson } from '../runtime/http-listener.ts';
import { DashboardAggregator } from './aggregator.ts';
import { KafkaState } from './kafka-state.ts';

const page = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

/** Pushes to the page at most this often while records flow; Kafka's offsets are read this long apart. */
const PUSH_EVERY_MS = 250;
const POLL_EVERY_MS = 2_000;

/**
 * `maxClients`: streams open at once, one more is refused (429). `maxMissedFrames`: frames a client may miss
 * while its connection does not drain, past that it is dropped (40: ten seconds at a frame per 250 ms).
 */
const SSE_LIMITS = { maxClients: 32, maxMissedFrames: 40 };
type SseLimits = typeof SSE_LIMITS;

export interface DashboardOptions {
  kafkaBrokers: string[];
  /** Consumer group of a function; the runtime's (defaults to `consumerGroupId`). */
  groupIdOf?: (fn: FunctionName) => string;
  /** 0 picks a free port. */
  port: number;
  log?: (line: string) => void;
  /** Tests shorten these: the pace of the pushes, the streams' limits, the request timeouts. */
  pushEveryMs?: number;
  sse?: SseLimits;
  timeouts?: ListenerTimeouts;
}

export type RunningDashboard = Awaited<ReturnType<typeof startDashboard>>;

/**
 * The local dashboard: a page and a server-sent event stream of {@link DashboardAggregator} snapshots,
 * fed by the KPI records the in-process `kpis` function publishes and by Kafka's consumer group offsets.
 */
export async function startDashboard(options: DashboardOptions) {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const aggregator = new DashboardAggregator(Date.now, log);
  const kafka = new KafkaState(options.kafkaBrokers, options.groupIdOf);
  const clients = sseClients(options.sse ?? SSE_LIMITS, log);
  const frame = () => `data: ${JSON.stringify(aggregator.snapshot())}\n\n`;
  let pending: NodeJS.Timeout | undefined;
  const unsubscribe = aggregator.subscribe(() => {
    pending ??= setTimeout(() => {
      pending = undefined;
      clients.broadcast(frame());
    }, options.pushEveryMs ?? PUSH_EVERY_MS);
  });

  // One read at a time, the next one POLL_EVERY_MS after it, until close(); a failure is logged once in a row.
  const polling = new AbortController();
  void (async () => {
    let warned = false;
    do {
      try {
        aggregator.setKafkaState(await kafka.read());
        warned = false;
      } catch (error) {
        if (!warned) log(`[dashboard] reading consumer offsets: ${(error as Error).message}`);
        warned = true;
      }
    } while (await sleep(POLL_EVERY_MS, true, { signal: polling.signal }).catch(() => false));
  })();

  const server = safeHttpServer(
    (request, response) => {
      route(request, response, { aggregator, clients, frame });
    },
    {
      name: 'dashboard',
      log,
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    },
  );
  await once(server.listen(options.port, '127.0.0.1'), 'listening');

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    aggregator,
    /** Event streams open now. */
    streams: () => clients.size,
    async close(): Promise<void> {
      polling.abort();
      clearTimeout(pending);
      unsubscribe();
      clients.closeAll();
      const closed = once(server.close(), 'close');
      server.closeAllConnections();
      await closed;
      await kafka.close().catch(() => undefined);
    },
  };
}

/** A whole answer, framed by its length (a client reads it without waiting for the connection to close). */
function whole(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  const type = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  };
  return response.writeHead(status, { ...type, ...headers }).end(body);
}

/** The dashboard's three resources; a target that is not a path is a 400, never a throw. */
function route(
  request: IncomingMessage,
  response: ServerResponse,
  state: { aggregator: DashboardAggregator; clients: ReturnType<typeof sseClients>; frame: () => string },
): unknown {
  const target = parseRequestTarget(request.url ?? '');
  if (!target) return whole(response, 400, 'bad request target', { connection: 'close' });
  if (request.method !== 'GET') return whole(response, 405, 'method not allowed', { allow: 'GET' });
  const noStore = { 'cache-control': 'no-store' };
  switch (target.path) {
    case '/':
      return whole(response, 200, page, { ...noStore, 'content-type': 'text/html; charset=utf-8' });
    case '/api/snapshot':
      return sendJson(response, 200, state.aggregator.snapshot(), noStore);
    case '/events':
      if (state.clients.full)
        return whole(response, 429, 'too many event streams open', { 'retry-after': '5' });
      response.writeHead(200, { 'content-type': 'text/event-stream', ...noStore, connection: 'keep-alive' });
      state.clients.add(response, `retry: 1000\n${state.frame()}`);
      return;
    default:
      return whole(response, 404, 'not found');
  }
}

/**
 * The server-sent event streams, with back-pressure: a frame is written to a client only while its
 * connection drains, so what waits in memory for it is at most one frame; a client that stops reading is
 * dropped after `maxMissedFrames`. Frames are whole snapshots, so a client that drains in time gets the
 * latest one and has lost nothing. Without this, every frame for a client that never reads stays buffered
 * in the process, for ever.
 */
export function sseClients(limits: SseLimits, log: (line: string) => void = () => undefined) {
  /** Per client, the frames it missed since write() returned false; undefined while its connection drains. */
  const clients = new Map<ServerResponse, number | undefined>();
  let latest = '';
  const write = (response: ServerResponse, frame: string) =>
    clients.set(response, response.write(frame) ? undefined : 0);
  return {
    get size() {
      return clients.size;
    },
    get full() {
      return clients.size >= limits.maxClients;
    },
    /** Opens a stream with its first frame; false (nothing written) when too many are open already. */
    add(response: ServerResponse, first: string): boolean {
      if (this.full) return false;
      response.on('close', () => clients.delete(response));
      // The client caught up: the latest snapshot, if it missed any.
      response.on('drain', () =>
        clients.get(response) ? write(response, latest) : clients.set(response, undefined),
      );
      write(response, first);
      return true;
    },
    broadcast(frame: string): void {
      latest = frame;
      for (const [response, missed] of clients) {
        if (missed === undefined) write(response, frame);
        else if (missed >= limits.maxMissedFrames) {
          clients.delete(response);
          response.destroy();
          log('[dashboard] dropped an event stream client: it does not read its stream');
        } else clients.set(response, missed + 1);
      }
    },
    closeAll(): void {
      for (const response of clients.keys()) response.end();
      clients.clear();
    },
  };
}
