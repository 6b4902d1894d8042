import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onKpisPublished } from '../../functions/kpis/metrics.ts';
import type { FunctionName } from '../../topology/index.ts';
import { DashboardAggregator } from './aggregator.ts';
import { KafkaState } from './kafka-state.ts';

const page = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

/** Pushes to the page at most this often while records flow; Kafka's offsets are read on every tick. */
const PUSH_EVERY_MS = 250;
const POLL_EVERY_MS = 2_000;

export interface DashboardOptions {
  kafkaBrokers: string[];
  /** Consumer group of a function; the runtime's (defaults to `consumerGroupId`). */
  groupIdOf?: (fn: FunctionName) => string;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  log?: (line: string) => void;
}

export interface RunningDashboard {
  url: string;
  aggregator: DashboardAggregator;
  close(): Promise<void>;
}

/**
 * The local dashboard: a page and a server-sent event stream of {@link DashboardAggregator} snapshots,
 * fed by the KPI records the in-process `kpis` function publishes and by Kafka's consumer group offsets.
 */
export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const aggregator = new DashboardAggregator();
  const kafka = new KafkaState(options.kafkaBrokers, options.groupIdOf);
  const clients = new Set<ServerResponse>();
  const push = () => {
    const frame = `data: ${JSON.stringify(aggregator.snapshot())}\n\n`;
    for (const client of clients) client.write(frame);
  };
  let pending: NodeJS.Timeout | undefined;
  const unsubscribe = aggregator.subscribe(() => {
    pending ??= setTimeout(() => {
      pending = undefined;
      push();
    }, PUSH_EVERY_MS);
  });
  const unlisten = onKpisPublished((records) => aggregator.record(records));

  let polling = false;
  let warned = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      aggregator.setKafkaState(await kafka.read());
      warned = false;
    } catch (error) {
      if (!warned) log(`[dashboard] reading consumer offsets: ${(error as Error).message}`);
      warned = true;
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), POLL_EVERY_MS);
  void poll();

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(page);
    } else if (path === '/api/snapshot') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(aggregator.snapshot()));
    } else if (path === '/events') {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      response.write(`retry: 1000\ndata: ${JSON.stringify(aggregator.snapshot())}\n\n`);
      clients.add(response);
      request.on('close', () => clients.delete(response));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}/`,
    aggregator,
    async close() {
      clearInterval(timer);
      clearTimeout(pending);
      unsubscribe();
      unlisten();
      for (const client of clients) client.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await kafka.close().catch(() => undefined);
    },
  };
}
