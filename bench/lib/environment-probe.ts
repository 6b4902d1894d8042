/**
 * The bench's counters inside each execution environment (preloaded before the function:
 * `LocalRuntimeOptions.preload`), patched at the prototype or middleware-stack level so that every client
 * the function creates counts: Kafka records and bytes per topic (`Producer#send`), DynamoDB request
 * units per table (a middleware on each client's stack; ./capacity.ts), SNS messages published (only
 * where there is a channel to publish to: elsewhere neither the function nor this module loads the SNS
 * client, so init stays the function's own).
 * The counts go to the runtime's `onTelemetry` as deltas just before the environment answers (messages of
 * one IPC channel arrive in order, so an invocation's counts reach the runtime before its outcome), and
 * every 250 ms meanwhile: an environment killed mid-invocation loses at most its last 250 ms of counts.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Producer } from '@platformatic/kafka';
import { beforeAnswer, postTelemetry } from '../../local/runtime/environments/telemetry.ts';
import { channelEnvVar, manifest, tableEnvVar, tableNames } from '../../topology/manifest.ts';
import type { TableSpec } from '../../topology/types.ts';
import { CapacityCounter, capacityReporting } from './capacity.ts';
import type { KafkaCounters, ProbeTelemetry } from './protocol.ts';

type Send = (this: unknown, ...args: unknown[]) => unknown;

function beforeSend(prototype: object, before: (self: unknown, args: unknown[]) => void): void {
  const target = prototype as { send: Send };
  const original = target.send;
  target.send = function countedSend(this: unknown, ...args: unknown[]) {
    before(this, args);
    return original.apply(this, args);
  };
}

// --- Kafka -----------------------------------------------------------------------------------------

let produced: Record<string, KafkaCounters> = {};

const byteLength = (value: unknown): number =>
  value instanceof Uint8Array ? value.byteLength : Buffer.byteLength(String(value ?? ''));

function headerBytes(headers: unknown): number {
  if (!headers) return 0;
  const entries = headers instanceof Map ? [...headers] : Object.entries(headers as object);
  return entries.reduce((n, [k, v]) => n + byteLength(k) + byteLength(v), 0);
}

type SendOptions = { messages?: { topic: string; key?: unknown; value?: unknown; headers?: unknown }[] };

beforeSend(Producer.prototype, (_producer, args) => {
  for (const message of (args[0] as SendOptions | undefined)?.messages ?? []) {
    produced[message.topic] ??= { records: 0, bytes: 0 };
    const counters = produced[message.topic] as KafkaCounters;
    counters.records += 1;
    counters.bytes += byteLength(message.key) + byteLength(message.value) + headerBytes(message.headers);
  }
});

// --- DynamoDB --------------------------------------------------------------------------------------

/** This environment's tables (its `TABLE_*` variables name them) and their key attributes. */
const keyNames = new Map<string, string[]>(
  tableNames.flatMap((table) => {
    const physical = process.env[tableEnvVar(table)];
    const spec: TableSpec = manifest.tables[table];
    return physical
      ? [[physical, [spec.partitionKey.name, ...(spec.sortKey ? [spec.sortKey.name] : [])]]]
      : [];
  }),
);
const capacity = new CapacityCounter((physical) => keyNames.get(physical) ?? []);

type Stack = DynamoDBClient['middlewareStack'];
const instrumented = new WeakSet<Stack>();

/**
 * Adds the counting middleware to a client's stack (once per stack: a document client shares its base
 * client's). At the build step the input is in DynamoDB's wire shape for every caller, and the output is
 * what the caller will see (the counter reads both shapes).
 */
function instrument(stack: Stack): void {
  if (instrumented.has(stack)) return;
  instrumented.add(stack);
  // Asked for by the bench only (before the request is serialized): the functions never read it.
  stack.add(
    (next, context) => (args) =>
      next(
        capacityReporting.has((context.commandName ?? '').replace(/Command$/, ''))
          ? { ...args, input: { ...(args.input as object), ReturnConsumedCapacity: 'INDEXES' } }
          : args,
      ),
    { step: 'initialize', name: 'benchReturnConsumedCapacity', tags: ['BENCH'] },
  );
  stack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      try {
        const result = await next(args);
        capacity.record(
          context.commandName ?? '',
          input,
          result.output as unknown as Record<string, unknown>,
        );
        return result;
      } catch (error) {
        capacity.record(context.commandName ?? '', input, undefined);
        throw error;
      }
    },
    { step: 'build', name: 'benchRequestUnits', tags: ['BENCH'] },
  );
}

for (const prototype of [DynamoDBClient.prototype, DynamoDBDocumentClient.prototype])
  beforeSend(prototype, (client) => instrument((client as { middlewareStack: Stack }).middlewareStack));

// --- SNS -------------------------------------------------------------------------------------------

let snsPublishes = 0;

const publishes = Object.keys(manifest.channels).some(
  (channel) => process.env[channelEnvVar(channel as keyof typeof manifest.channels)],
);
if (publishes) {
  const { SNSClient } = await import('@aws-sdk/client-sns');
  // Messages published, as SNS bills them: a batch counts its entries.
  beforeSend(SNSClient.prototype, (_client, args) => {
    const command = args[0] as {
      constructor: { name: string };
      input?: { PublishBatchRequestEntries?: unknown[] };
    };
    if (command.constructor.name === 'PublishCommand') snsPublishes += 1;
    else if (command.constructor.name === 'PublishBatchCommand')
      snsPublishes += command.input?.PublishBatchRequestEntries?.length ?? 0;
  });
}

// --- Posting ---------------------------------------------------------------------------------------

function flush(): void {
  const dynamodb = Object.fromEntries(
    Object.entries(capacity.byTable).filter(
      ([, units]) => units.calls > 0 || units.writeUnits > 0 || units.readUnits > 0,
    ),
  );
  if (Object.keys(produced).length === 0 && Object.keys(dynamodb).length === 0 && snsPublishes === 0) return;
  const data: ProbeTelemetry = { produced, dynamodb, snsPublishes };
  produced = {};
  snsPublishes = 0;
  for (const table of Object.keys(dynamodb))
    capacity.byTable[table] = { calls: 0, readUnits: 0, writeUnits: 0 };
  postTelemetry(data);
}

beforeAnswer(flush);
setInterval(flush, 250).unref();
