/**
 * Counters wrapped around the functions from the outside, in the process that runs them: nothing in
 * functions/ or local/ knows about the bench.
 * - Kafka: every `Producer#send` of @platformatic/kafka in this process (records and bytes per topic).
 * - DynamoDB: a middleware on the functions' shared client computes request units (./capacity.ts).
 * - Lambda: each invocation's duration, through the local runtime's `wrapHandler` hook.
 * - SNS: every message published by an SNS client of this process (the customer notifications).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { Producer } from '@platformatic/kafka';
import type { MSKEvent } from 'aws-lambda';
import { localTableName, manifest, type TableName, tableNames } from '../../topology/manifest.ts';
import type { TableSpec } from '../../topology/types.ts';
import { type CapacityCounter, capacityReporting } from './capacity.ts';
import type { Completion, FunctionCounters, KafkaCounters } from './protocol.ts';
import { now } from './protocol.ts';

type SendOptions = { messages?: { topic: string; key?: unknown; value?: unknown; headers?: unknown }[] };

const byteLength = (value: unknown): number => {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (value instanceof Uint8Array) return value.byteLength;
  return Buffer.byteLength(String(value));
};

function headerBytes(headers: unknown): number {
  if (!headers) return 0;
  const entries = headers instanceof Map ? [...headers] : Object.entries(headers as object);
  return entries.reduce((n, [k, v]) => n + byteLength(k) + byteLength(v), 0);
}

/** Patches `Producer.prototype.send` once; every producer of this process is counted from then on. */
export function countKafkaProduces(): Record<string, KafkaCounters> {
  const produced: Record<string, KafkaCounters> = {};
  const prototype = Producer.prototype as unknown as { send: (...args: unknown[]) => unknown };
  const original = prototype.send;
  prototype.send = function countedSend(this: unknown, ...args: unknown[]) {
    for (const message of (args[0] as SendOptions | undefined)?.messages ?? []) {
      produced[message.topic] ??= { records: 0, bytes: 0 };
      const counters = produced[message.topic] as KafkaCounters;
      counters.records += 1;
      counters.bytes += byteLength(message.key) + byteLength(message.value) + headerBytes(message.headers);
    }
    return original.apply(this, args);
  };
  return produced;
}

/** Patches `SNSClient.prototype.send` once: messages published (a batch counts its entries), as SNS bills them. */
export function countSnsPublishes(): { publishes: number } {
  const counters = { publishes: 0 };
  const prototype = SNSClient.prototype as unknown as { send: (...args: unknown[]) => unknown };
  const original = prototype.send;
  prototype.send = function countedSend(this: unknown, ...args: unknown[]) {
    const command = args[0] as {
      constructor: { name: string };
      input?: { PublishBatchRequestEntries?: unknown[] };
    };
    if (command.constructor.name === 'PublishCommand') counters.publishes += 1;
    else if (command.constructor.name === 'PublishBatchCommand')
      counters.publishes += command.input?.PublishBatchRequestEntries?.length ?? 0;
    return original.apply(this, args);
  };
  return counters;
}

/** Key attribute names of this run's physical tables, for the capacity counter. */
export function keyNamesOf(tablePrefix: string): (physical: string) => string[] {
  const keys = new Map<string, string[]>(
    tableNames.map((table: TableName) => {
      const spec: TableSpec = manifest.tables[table];
      return [
        localTableName(table, tablePrefix),
        [spec.partitionKey.name, ...(spec.sortKey ? [spec.sortKey.name] : [])],
      ];
    }),
  );
  return (physical) => keys.get(physical) ?? [];
}

const instrumented = new WeakSet<DynamoDBClient>();

/**
 * Adds the counting middleware to `client` (once). At the build step the input is in DynamoDB's wire
 * shape for every caller, and the output is what the caller will see (the counter reads both shapes).
 */
export function countDynamoDbUnits(client: DynamoDBClient, counter: CapacityCounter): void {
  if (instrumented.has(client)) return;
  instrumented.add(client);
  // Asked for by the bench only (before the request is serialized): the functions never read it.
  client.middlewareStack.add(
    (next, context) => (args) =>
      next(
        capacityReporting.has((context.commandName ?? '').replace(/Command$/, ''))
          ? { ...args, input: { ...(args.input as object), ReturnConsumedCapacity: 'INDEXES' } }
          : args,
      ),
    { step: 'initialize', name: 'benchReturnConsumedCapacity', tags: ['BENCH'] },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      try {
        const result = await next(args);
        counter.record(context.commandName ?? '', input, result.output as unknown as Record<string, unknown>);
        return result;
      } catch (error) {
        counter.record(context.commandName ?? '', input, undefined);
        throw error;
      }
    },
    { step: 'build', name: 'benchRequestUnits', tags: ['BENCH'] },
  );
}

export function newFunctionCounters(): Record<string, FunctionCounters> {
  return Object.fromEntries(
    Object.entries(manifest.functions).map(([name, spec]) => [
      name,
      { memoryMb: spec.memoryMb, invocations: 0, failedInvocations: 0, records: 0, billedMs: 0 },
    ]),
  );
}

const recordCount = (event: unknown): number => {
  const records = (event as Partial<MSKEvent> | undefined)?.records;
  return records ? Object.values(records).reduce((n, batch) => n + batch.length, 0) : 1;
};

// biome-ignore lint/suspicious/noExplicitAny: the runtime's handlers take many event shapes.
type Handler = (event: any, context: any, callback: any) => unknown;

export interface TimedHooks {
  /** Runs before each invocation (e.g. to instrument clients created lazily). */
  before?: () => void;
  /** Sees each successful invocation's event and result. */
  after?: (event: unknown, result: unknown) => void;
  /** Invocations running right now, per function (chaos runs kill the runtime mid-batch with it). */
  inFlight?: Record<string, number>;
}

/** Wraps a handler to count and time its invocations. */
export function timed(
  name: string,
  counters: FunctionCounters,
  handler: Handler,
  hooks: TimedHooks = {},
): Handler {
  return async (event, context, callback) => {
    hooks.before?.();
    const started = performance.now();
    counters.invocations += 1;
    counters.records += recordCount(event);
    if (hooks.inFlight) hooks.inFlight[name] = (hooks.inFlight[name] ?? 0) + 1;
    try {
      const result = await handler(event, context, callback);
      hooks.after?.(event, result);
      return result;
    } catch (error) {
      counters.failedInvocations += 1;
      throw error;
    } finally {
      counters.billedMs += Math.ceil(performance.now() - started);
      if (hooks.inFlight) hooks.inFlight[name] = (hooks.inFlight[name] ?? 1) - 1;
    }
  };
}

const finalKinds = new Set(['order-shipped', 'order-rejected', 'order-cancelled']);

/** The orders whose final notification this (successful) notification invocation delivered. */
export function finalNotifications(event: unknown): Completion[] {
  const at = now();
  const completions: Completion[] = [];
  for (const batch of Object.values((event as MSKEvent).records ?? {})) {
    for (const record of batch) {
      try {
        const value = JSON.parse(Buffer.from(record.value, 'base64').toString('utf8')) as {
          data?: { kind?: string; orderId?: string };
        };
        const kind = value.data?.kind;
        if (kind && finalKinds.has(kind) && value.data?.orderId) {
          completions.push({ orderId: value.data.orderId, kind: kind as Completion['kind'], at });
        }
      } catch {
        // Poison records are not orders.
      }
    }
  }
  return completions;
}
