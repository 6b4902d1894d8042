import * as z from 'zod';
import { type EncodedRecord, EventDecodeError } from '../../events/codec.ts';
import { manifest } from '../../topology/manifest.ts';
import { ConfigError } from '../shared/config.ts';
import { orderCancelledRecord, orderReceivedRecord } from '../shared/orders/events.ts';
import { OUTBOX_SHARDS, orderOf, StoredOrder, type UpdateParams } from '../shared/orders/model.ts';

/**
 * The outbox sweeper: order-api writes an order (RECEIVED, with an `outboxShard`) before it produces the
 * order's OrderReceived, and inventory's decision removes the marker. An order still marked past a grace
 * period may never have had its event produced (order-api crashed or timed out in between): the sweeper
 * produces it again, with the same deterministic event id, so consumers drop it if it was not lost after
 * all. Each order is re-produced a bounded number of times, with a growing delay, then abandoned: marked
 * `outboxAbandonedAt` (with `outboxAbandonReason`), taken out of the outbox and logged as an error. Every
 * row is parsed with a schema and handled on its own: one that can never be swept (malformed, unencodable,
 * refused for good) is abandoned the same way at once; one that fails transiently is left to the next run;
 * neither stops the other rows or shards.
 */

const outboxIndex = manifest.tables.orders.indexes.outbox;
export const OUTBOX_INDEX = 'outbox';
const SHARD = outboxIndex.partitionKey.name;
const PLACED_AT = outboxIndex.sortKey.name;

/** An instant as order-api and the sweeper write them (ISO-8601): what the index's order and the delays need. */
const Instant = z.iso.datetime({ offset: true });

/**
 * A row of the outbox index, parsed before anything is done with it: a row that does not parse (a
 * `placedAt` that is no time, an attempt count that is no count, ...) can never be swept and is abandoned.
 */
export const OutboxItem = StoredOrder.extend({
  placedAt: Instant,
  outboxAttempts: z.number().int().nonnegative().optional(),
  /** Not re-produced again before this time (the delay doubles with every attempt). */
  outboxNextAttemptAt: Instant.optional(),
  /** When the sweeper gave up on the order, and why (no personal data: a count or a schema path). */
  outboxAbandonedAt: z.string().optional(),
  outboxAbandonReason: z.string().optional(),
});
export type OutboxItem = z.infer<typeof OutboxItem>;

/** The sweeper's settings, from its environment (the manifest sets them; these are the defaults). */
export const SweepEnv = {
  graceSeconds: 'OUTBOX_GRACE_SECONDS',
  maxAttempts: 'OUTBOX_MAX_ATTEMPTS',
  maxOrdersPerRun: 'OUTBOX_MAX_ORDERS_PER_RUN',
} as const;

export interface SweepConfig {
  /** An order younger than this is left to order-api, which may still be between its write and its produce. */
  graceMs: number;
  /** Re-produces per order before it is abandoned. */
  maxAttempts: number;
  /** Orders acted on per run, over all shards: bounds the run's time (reads are bounded with it). */
  maxOrdersPerRun: number;
}

const positiveInt = (fallback: number, max: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? Number(value) : fallback))
    .pipe(z.number().int().min(1).max(max));

const SweepEnvSchema = z.object({
  [SweepEnv.graceSeconds]: positiveInt(30, 86_400),
  [SweepEnv.maxAttempts]: positiveInt(5, 20),
  [SweepEnv.maxOrdersPerRun]: positiveInt(500, 10_000),
});

export function readSweepConfig(env: Readonly<Record<string, string | undefined>>): SweepConfig {
  const parsed = SweepEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ');
    throw new ConfigError(`invalid outbox sweeper configuration: ${problems}`);
  }
  return {
    graceMs: parsed.data[SweepEnv.graceSeconds] * 1000,
    maxAttempts: parsed.data[SweepEnv.maxAttempts],
    maxOrdersPerRun: parsed.data[SweepEnv.maxOrdersPerRun],
  };
}

/** Orders placed before this (ISO-8601, as `placedAt` is stored) are past the grace period. */
export const cutoffOf = (now: Date, config: SweepConfig): string =>
  new Date(now.getTime() - config.graceMs).toISOString();

/** The delay after attempt `attempt` (1-based) before the next: the grace period, doubled each time. */
export const retryDelayMs = (attempt: number, config: SweepConfig): number => config.graceMs * 2 ** attempt;

export const shards = (): string[] => Array.from({ length: OUTBOX_SHARDS }, (_, shard) => String(shard));

/** The paths of a schema failure (the codec's or zod's), at most five; undefined for any other error. */
function schemaPaths(error: unknown): string[] | undefined {
  let paths: string[];
  if (error instanceof EventDecodeError) paths = error.issues.map((i) => i.path || 'event');
  else if (error instanceof z.ZodError) paths = error.issues.map((i) => i.path.join('.') || 'event');
  else return undefined;
  return [...new Set(paths)].slice(0, 5);
}

/** Why an error happened, without its message (which could quote the order): its schema paths or its name. */
export function errorReason(error: unknown): string {
  const paths = schemaPaths(error);
  if (paths) return `schema: ${paths}`;
  return error instanceof Error ? error.name : typeof error;
}

/**
 * A row placed later than now plus this is no order order-api wrote (it stamps `placedAt` itself, and
 * clocks agree within seconds): it would never become due, so the sweeper reads such rows apart (with any
 * `placedAt` that sorts after the times, `"soon"`) and abandons them. Minutes, so that a garbage time a
 * little ahead of now (`"…T99:00"`) is not left in the outbox for long either.
 */
export const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;
export const horizonOf = (now: Date): string => new Date(now.getTime() + FUTURE_TOLERANCE_MS).toISOString();

const topicOf = (status: 'RECEIVED' | 'CANCELLED') =>
  status === 'RECEIVED' ? 'OrderReceived' : 'OrderCancelled';

/** What to do with one item of the outbox index. */
export type Decision =
  /** Not due yet: inside the grace period, or waiting for its next attempt. */
  | { action: 'wait'; orderId: string }
  /** Re-produce its event, once the attempt is recorded (`previous` → `attempt`). */
  | {
      action: 'reproduce';
      orderId: string;
      /** RECEIVED: its OrderReceived; CANCELLED: its OrderCancelled (the stock is not given back yet). */
      status: 'RECEIVED' | 'CANCELLED';
      previous: number;
      attempt: number;
      nextAttemptAt: string;
      record: EncodedRecord;
    }
  /** Stop trying: out of the outbox, marked, logged. */
  | {
      action: 'abandon';
      orderId: string;
      previous: number | undefined;
      /** The status it was read in (undefined for a malformed item): the abandon applies only in it. */
      status: 'RECEIVED' | 'CANCELLED' | undefined;
      reason: string;
    }
  /** No longer RECEIVED but still marked (nothing to re-produce): drop the marker. */
  | { action: 'clear'; orderId: string; status: string };

export type Reproduce = Extract<Decision, { action: 'reproduce' }>;

/**
 * The decision for one item read from the outbox index. Pure and total: whatever the item holds, it
 * returns a decision (a row that can never be swept is abandoned with its reason), never throws.
 */
export function decide(item: Record<string, unknown>, now: Date, config: SweepConfig): Decision {
  const orderId = String(item.orderId);
  const parsed = OutboxItem.safeParse(item);
  if (!parsed.success) {
    const previous = typeof item.outboxAttempts === 'number' ? item.outboxAttempts : undefined;
    const paths = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || 'item'))].slice(0, 5);
    return { action: 'abandon', orderId, previous, status: undefined, reason: `malformed item: ${paths}` };
  }
  const order = parsed.data;
  const waiting =
    order.status === 'RECEIVED' || (order.status === 'CANCELLED' && order.stockReleased === undefined);
  if (!waiting) return { action: 'clear', orderId, status: order.status };
  const status = order.status as 'RECEIVED' | 'CANCELLED';
  const previous = order.outboxAttempts ?? 0;
  const abandon = (reason: string): Decision => ({ action: 'abandon', orderId, previous, status, reason });
  if (Date.parse(order.placedAt) > now.getTime() + FUTURE_TOLERANCE_MS) {
    return abandon('placedAt lies in the future: no order order-api wrote');
  }
  if (order.placedAt >= cutoffOf(now, config)) return { action: 'wait', orderId };
  if (order.outboxNextAttemptAt !== undefined && order.outboxNextAttemptAt > now.toISOString()) {
    return { action: 'wait', orderId };
  }
  const topic = topicOf(status);
  if (previous >= config.maxAttempts) {
    return abandon(`${topic} re-produced ${previous} times and the order is still ${status}`);
  }
  let record: EncodedRecord;
  try {
    record =
      status === 'RECEIVED'
        ? orderReceivedRecord(orderOf(order), order.requestId ?? order.orderId, new Date(order.placedAt))
        : orderCancelledRecord(order, order.orderId);
  } catch (error) {
    // Paths or the error's name only: the issues' messages could quote the order's content.
    const paths = schemaPaths(error);
    if (paths) return abandon(`the order does not fit the ${topic} schema: ${paths}`);
    return abandon(`its ${topic} cannot be built from the stored order: ${errorReason(error)}`);
  }
  const attempt = previous + 1;
  const nextAttemptAt = new Date(now.getTime() + retryDelayMs(attempt, config)).toISOString();
  return { action: 'reproduce', orderId, status, previous, attempt, nextAttemptAt, record };
}

export interface QueryParams {
  TableName: string;
  IndexName: string;
  KeyConditionExpression: string;
  FilterExpression?: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
  Limit: number;
  ExclusiveStartKey?: Record<string, unknown>;
}

/**
 * One page of a shard's outbox, oldest first: orders placed before the cutoff whose next attempt is due.
 * `Limit` counts the items read before the filter, so it bounds the reads.
 */
export function outboxQuery(
  tableName: string,
  shard: string,
  now: Date,
  config: SweepConfig,
  limit: number,
  startKey?: Record<string, unknown>,
): QueryParams {
  return {
    TableName: tableName,
    IndexName: OUTBOX_INDEX,
    KeyConditionExpression: '#shard = :shard AND #placedAt < :cutoff',
    FilterExpression: 'attribute_not_exists(#next) OR #next <= :now',
    ExpressionAttributeNames: { '#shard': SHARD, '#placedAt': PLACED_AT, '#next': 'outboxNextAttemptAt' },
    ExpressionAttributeValues: {
      ':shard': shard,
      ':cutoff': cutoffOf(now, config),
      ':now': now.toISOString(),
    },
    Limit: limit,
    ...(startKey ? { ExclusiveStartKey: startKey } : {}),
  };
}

/**
 * The rows of a shard placed after the horizon: never due (the outbox query reads only rows placed before
 * the cutoff), so read apart, to be abandoned. A `placedAt` that is no time at all but sorts after the
 * digits (`"soon"`) is read here too; one that sorts before the cutoff is read by the outbox query.
 */
export function misplacedQuery(tableName: string, shard: string, now: Date, limit: number): QueryParams {
  return {
    TableName: tableName,
    IndexName: OUTBOX_INDEX,
    KeyConditionExpression: '#shard = :shard AND #placedAt > :horizon',
    ExpressionAttributeNames: { '#shard': SHARD, '#placedAt': PLACED_AT },
    ExpressionAttributeValues: { ':shard': shard, ':horizon': horizonOf(now) },
    Limit: limit,
  };
}

/**
 * The conditional write that records a decision. Each applies only to an order still in the outbox and
 * still at the attempt count it was read with, so two overlapping sweeps never both act on one attempt.
 */
export function decisionUpdate(
  tableName: string,
  decision: Exclude<Decision, { action: 'wait' }>,
  now: Date,
): UpdateParams {
  // DynamoDB refuses unused names and values: each is added with the clause that uses it.
  const names: Record<string, string> = { '#shard': SHARD };
  const values: Record<string, unknown> = {};
  const conditions = ['attribute_exists(#shard)'];
  const attemptsSeen = (previous: number | undefined) => {
    if (previous === undefined) return;
    names['#attempts'] = 'outboxAttempts';
    values[':previous'] = previous;
    conditions.push(
      previous === 0 ? '(attribute_not_exists(#attempts) OR #attempts = :previous)' : '#attempts = :previous',
    );
  };
  const statusIs = (status: string) => {
    names['#status'] = 'status';
    values[':status'] = status;
    conditions.push('#status = :status');
  };
  let update: string;
  switch (decision.action) {
    case 'reproduce':
      attemptsSeen(decision.previous);
      statusIs(decision.status);
      names['#next'] = 'outboxNextAttemptAt';
      values[':attempt'] = decision.attempt;
      values[':next'] = decision.nextAttemptAt;
      update = 'SET #attempts = :attempt, #next = :next';
      break;
    case 'abandon':
      attemptsSeen(decision.previous);
      if (decision.status) statusIs(decision.status);
      names['#abandonedAt'] = 'outboxAbandonedAt';
      names['#reason'] = 'outboxAbandonReason';
      values[':at'] = now.toISOString();
      values[':reason'] = decision.reason;
      update = 'SET #abandonedAt = :at, #reason = :reason REMOVE #shard';
      break;
    case 'clear':
      statusIs(decision.status);
      update = 'REMOVE #shard';
      break;
  }
  return {
    TableName: tableName,
    Key: { orderId: decision.orderId },
    UpdateExpression: update,
    ConditionExpression: conditions.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}
