import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, ScheduledEvent } from 'aws-lambda';
import { encode } from '../../events/codec.ts';
import { eventsFor } from '../../events/testing.ts';
import { type TopicName, topicNames } from '../../events/topics.ts';
import { catalogBySku } from '../../functions/shared/catalog.ts';
import { readCommandLine } from '../../tools/command-line.ts';
import { type FunctionName, manifest } from '../../topology/index.ts';
import { projectRoot } from '../python/venv.ts';
import { matchRoute, orderApiRoutes, toProxyEvent } from '../runtime/api-emulator.ts';
import { LOCAL_ACCOUNT_ID } from '../runtime/lambda-context.ts';
import { buildMskEvent, type MskEvent } from '../runtime/msk-event.ts';
import { scheduledEvent } from '../runtime/scheduler.ts';

/**
 * The sample events of `npm run invoke` (events/samples/): one MSK event per topic holding that topic's
 * event of events/testing.ts, one API Gateway proxy event per route of order-api, one EventBridge
 * `Scheduled Event`. Everything random in those shapes (request ids, times) is fixed here, so the generator
 * always writes the same files and a test can tell when the checked-in ones are stale.
 *
 *   npm run samples -- [--check]   # writes them (and deletes those of samples that no longer exist);
 *                                  # --check: write nothing, exit 1 when the files are stale
 */
export type SampleEvent = MskEvent | APIGatewayProxyEvent | ScheduledEvent;

export const SAMPLE_ORDER_ID = 'order-sample-1';
/** The time every sample claims: the fixture order's `placedAt`. */
const SAMPLE_TIME = new Date('2026-11-24T10:00:00.000Z');
const SAMPLE_BROKERS = '127.0.0.1:9092';
// Fixed, not the environment's AWS_REGION: the generated files must not depend on who generates them.
const SAMPLE_REGION = 'us-east-1';
export const samplesDir = join(projectRoot, 'events', 'samples');
const SAMPLE_CLUSTER_ARN = `arn:aws:kafka:${SAMPLE_REGION}:${LOCAL_ACCOUNT_ID}:cluster/local-order-pipeline/00000000-0000-0000-0000-000000000000-1`;

/** `OrderPickedAndPacked` → `order-picked-and-packed`, `KPIs` → `kpis`. */
export const topicSampleName = (topic: TopicName): string =>
  topic.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();

/** `POST /orders/{id}/cancel` → `post-orders-id-cancel`. */
export const routeSampleName = (method: string, resource: string): string =>
  [method, ...resource.split('/').filter(Boolean)].join('-').replace(/[{}]/g, '').toLowerCase();

export const SCHEDULED_SAMPLE = 'scheduled-event';

function mskSample(topic: TopicName): MskEvent {
  const event = { ...eventsFor(SAMPLE_ORDER_ID)[topic], occurredAt: SAMPLE_TIME.toISOString() };
  // Through the producers' encoder: the record is what the topic would carry (value, key, headers).
  const record = encode(topic, event as never);
  return buildMskEvent({ eventSourceArn: SAMPLE_CLUSTER_ARN, bootstrapServers: SAMPLE_BROKERS }, [
    {
      topic,
      partition: 0,
      offset: 0n,
      timestamp: BigInt(SAMPLE_TIME.getTime()),
      key: Buffer.from(record.key),
      value: record.value,
      headerEntries: Object.entries(record.headers).map(([name, value]) => [
        Buffer.from(name),
        Buffer.from(value),
      ]),
    },
  ]);
}

/** The body of `POST /orders`: the fixture order as a client sends it, priced from the demo catalog. */
function orderRequestBody(): string {
  const { order } = eventsFor(SAMPLE_ORDER_ID).OrderReceived.data;
  const items = order.items.map(({ sku, quantity }) => {
    const entry = catalogBySku.get(sku);
    if (!entry) throw new Error(`fixture SKU ${sku} is not in the demo catalog`);
    return { sku, name: entry.name, quantity, unitPrice: entry.unitPrice };
  });
  return JSON.stringify({ customerId: order.customerId, items, shippingAddress: order.shippingAddress });
}

function apiSample(method: string, resource: string): APIGatewayProxyEvent {
  const path = resource.replace('{id}', SAMPLE_ORDER_ID);
  const matched = matchRoute(orderApiRoutes, method, path);
  if (!matched) throw new Error(`no route matches ${method} ${path}`);
  const body = method === 'POST' && resource === '/orders' ? orderRequestBody() : '';
  const json = {
    'Content-Type': 'application/json',
    'Idempotency-Key': '00000000-0000-4000-8000-000000000001',
  };
  const headers = {
    Host: 'localhost:3000',
    'User-Agent': 'curl/8.5.0',
    Accept: '*/*',
    ...(body ? json : {}),
  };
  const event = toProxyEvent(
    {
      method,
      path,
      query: [],
      rawHeaders: Object.entries(headers).flat(),
      body: Buffer.from(body),
      sourceIp: '127.0.0.1',
      localPort: 3000,
    },
    matched,
    'sampleapi1',
  );
  const traceId = 'Root=1-6743f9a0-000000000000000000000001';
  return {
    ...event,
    headers: { ...event.headers, 'X-Amzn-Trace-Id': traceId },
    multiValueHeaders: { ...event.multiValueHeaders, 'X-Amzn-Trace-Id': [traceId] },
    requestContext: {
      ...event.requestContext,
      extendedRequestId: 'c2FtcGxlLTE=',
      requestId: '00000000-0000-4000-8000-000000000002',
      requestTime: '24/Nov/2026:10:00:00 +0000',
      requestTimeEpoch: SAMPLE_TIME.getTime(),
      resourceId: 'abc123',
    },
  };
}

/** The scheduler's event, with a fixed id and region. */
function scheduledSample(): ScheduledEvent {
  const event = scheduledEvent('outbox-sweeper', SAMPLE_TIME);
  const resources = event.resources.map((arn) => arn.replace(`:${event.region}:`, `:${SAMPLE_REGION}:`));
  return { ...event, id: '00000000-0000-4000-8000-000000000003', region: SAMPLE_REGION, resources };
}

/** Every sample by name, in a stable order. */
export function buildSamples(): Record<string, SampleEvent> {
  const samples: Record<string, SampleEvent> = {};
  for (const topic of topicNames) samples[topicSampleName(topic)] = mskSample(topic);
  for (const route of orderApiRoutes)
    samples[routeSampleName(route.method, route.resource)] = apiSample(route.method, route.resource);
  samples[SCHEDULED_SAMPLE] = scheduledSample();
  return samples;
}

/** The samples that fit a function's trigger: its topic's MSK event, its routes, or the scheduled event. */
export function samplesFor(fn: FunctionName): string[] {
  const trigger = manifest.functions[fn].trigger;
  if (trigger.kind === 'kafka') return [topicSampleName(trigger.topic)];
  if (trigger.kind === 'http')
    return trigger.routes.map((route) => routeSampleName(route.method, route.resource));
  return [SCHEDULED_SAMPLE];
}

/** The file text of a sample (stable, two-space JSON and a final newline). */
export const sampleText = (event: SampleEvent): string => `${JSON.stringify(event, null, 2)}\n`;

async function main(): Promise<number> {
  const command = readCommandLine(
    { usage: 'usage: npm run samples -- [--check]', options: { check: { type: 'boolean' } } },
    ({ values }) => values.check === true,
  );
  if (command.exitCode !== undefined) return command.exitCode;
  const check = command.settings;
  const wanted = new Map(
    Object.entries(buildSamples()).map(([name, event]) => [`${name}.json`, sampleText(event)]),
  );
  await mkdir(samplesDir, { recursive: true });
  const present = (await readdir(samplesDir)).filter((file) => file.endsWith('.json'));
  const extra = present.filter((file) => !wanted.has(file));
  const current = await Promise.all(
    [...wanted.keys()].map((file) => readFile(join(samplesDir, file), 'utf8').catch(() => '')),
  );
  const changed = [...wanted].filter(([, text], i) => current[i] !== text);
  const stale = [...extra, ...changed.map(([file]) => file)];
  if (check) {
    if (stale.length > 0)
      console.error(`stale samples in events/samples/: ${stale.join(', ')} (run npm run samples)`);
    return stale.length > 0 ? 1 : 0;
  }
  await Promise.all(extra.map((file) => rm(join(samplesDir, file))));
  await Promise.all(changed.map(([file, text]) => writeFile(join(samplesDir, file), text)));
  console.error(`[samples] ${wanted.size} sample(s) in events/samples/, ${stale.length} written or deleted`);
  return 0;
}

if (import.meta.main) process.exitCode = await main();
