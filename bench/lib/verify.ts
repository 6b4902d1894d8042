/**
 * What a run left behind, read back from DynamoDB and the DeadLetterQueue topic: which orders finished,
 * whether any stock was reserved twice, any notification delivered twice, and what was dead-lettered.
 */

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { decode } from '../../events/codec.ts';
import { StoredOrder } from '../../functions/shared/orders/model.ts';
import type { Offsets } from '../../local/infra/consumer-lag.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { parseDeadLetterQueueRecord } from '../../tools/dlq/dead-letter.ts';
import { newReader, type RawMessage, readRanges } from '../../tools/dlq/read.ts';
import { localTableName, type TableName } from '../../topology/manifest.ts';

type Item = Record<string, unknown>;

async function scanAll(client: DynamoDBDocumentClient, table: string): Promise<Item[]> {
  const items: Item[] = [];
  for await (const page of paginateScan({ client }, { TableName: table, ConsistentRead: true })) {
    items.push(...((page.Items ?? []) as Item[]));
  }
  return items;
}

export type EffectsReport = Awaited<ReturnType<typeof readEffects>>;
export type RecordedNotification = EffectsReport['notificationItems'][number];
export type DeadLetter = ReturnType<typeof parseDeadLetter>;

/** What the read-back needs of an order item (the product's schema parses it). */
export type OrderFacts = Pick<
  StoredOrder,
  'status' | 'stockReleased' | 'cancelledFrom' | 'items' | 'history'
>;

/** The statuses an order holds stock in; a cancelled one too until inventory-release gave it back. */
export const holdsStock = (order: OrderFacts): boolean =>
  ['CONFIRMED', 'PACKED', 'SHIPPED'].includes(order.status) ||
  (order.status === 'CANCELLED' &&
    order.stockReleased === undefined &&
    ['CONFIRMED', 'PACKED'].includes(order.cancelledFrom ?? ''));

/** An order that ended: shipped, rejected, or cancelled with its stock question settled. */
export const isFinal = (order: OrderFacts | undefined): boolean =>
  order !== undefined &&
  (order.status === 'SHIPPED' ||
    order.status === 'REJECTED' ||
    (order.status === 'CANCELLED' && order.stockReleased !== undefined));

/**
 * Reads this run's tables. `initialStock` is what every SKU was seeded with; the expected reservations
 * are the quantities of every order that holds stock (`holdsStock`). Once every order is final that is
 * the quantities of the SHIPPED orders: a cancelled order's units are back, a rejected one never had any.
 */
export async function readEffects(endpoint: string, tablePrefix: string, initialStock: number) {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(endpoint)));
  const table = (name: TableName) => localTableName(name, tablePrefix);
  try {
    const [orders, notifications, inventory] = await Promise.all([
      scanAll(client, table('orders')),
      scanAll(client, table('notifications')),
      scanAll(client, table('inventory')),
    ]);
    const facts = new Map<string, OrderFacts>(
      orders.map((item) => [String(item.orderId), StoredOrder.parse(item)]),
    );
    const statuses: Record<string, number> = {};
    const expected = new Map<string, number>();
    for (const order of facts.values()) {
      statuses[order.status] = (statuses[order.status] ?? 0) + 1;
      if (!holdsStock(order)) continue;
      for (const item of order.items) expected.set(item.sku, (expected.get(item.sku) ?? 0) + item.quantity);
    }
    // Where stock arithmetic does not add up (a double or lost reservation), and the units reserved beyond
    // what the orders holding stock asked for (0 when every reservation happened once).
    const stock = inventory.map((item) => {
      const sku = String(item.sku);
      return {
        sku,
        initial: initialStock,
        available: Number(item.available),
        reserved: Number(item.reserved ?? 0),
        expectedReserved: expected.get(sku) ?? 0,
      };
    });
    const stockMismatches = stock.filter(
      (s) => s.initial - s.available !== s.expectedReserved || s.reserved !== s.expectedReserved,
    );
    const doubleReservedUnits = stock.reduce(
      (n, s) => n + Math.max(0, s.initial - s.available - s.expectedReserved),
      0,
    );
    // Notices recorded twice or missing are checkNotifications' to find, against what was produced and sent.
    const notificationItems = notifications.map((n) => ({
      orderId: String(n.orderId),
      notificationId: String(n.notificationId),
      kind: String(n.kind),
    }));
    return {
      statuses,
      shipped: new Set(notificationItems.filter((n) => n.kind === 'order-shipped').map((n) => n.orderId)),
      stockMismatches,
      doubleReservedUnits,
      notifications: notifications.length,
      orderStatus: new Map([...facts].map(([orderId, fact]) => [orderId, fact.status])),
      notificationItems,
      orders: facts,
    };
  } finally {
    client.destroy();
  }
}

/**
 * Classifies a DeadLetterQueue record with the one dead-letter reader (tools/dlq): a function's
 * DeadLettered event, Lambda's on-failure record, or a replay marker (not a dead letter). `reason`:
 * `poison` (a function's), `retries-exhausted` (the mapping's), `replay-marker` (none), `unreadable`;
 * `originalKey`: the key of the record that failed (an order id, or a poison record's key).
 */
export function parseDeadLetter(message: { key?: Buffer | null; value?: Buffer | null }): {
  reason: string;
  originalKey: string | undefined;
  sourceTopic: string | undefined;
} {
  const kafkaKey = message.key?.toString('utf8');
  const parsed = parseDeadLetterQueueRecord(message.value ?? null);
  if (parsed.kind === 'marker')
    return { reason: 'replay-marker', originalKey: kafkaKey, sourceTopic: undefined };
  const [first] = parsed.kind === 'letters' ? parsed.letters : [];
  if (!first) return { reason: 'unreadable', originalKey: kafkaKey, sourceTopic: undefined };
  return {
    reason: first.reason,
    originalKey: first.original.key?.toString('utf8') ?? kafkaKey,
    sourceTopic: first.original.topic,
  };
}

/** Every record of `topic` between `from` (inclusive) and `to` (exclusive) offsets, with tools/dlq's reader. */
export async function readRange(brokers: string[], topic: string, from: Offsets, to: Offsets) {
  const ends = to.get(topic) ?? new Map<number, bigint>();
  const ranges = Array.from({ length: Math.max(-1, ...ends.keys()) + 1 }, (_, partition) => ({
    start: from.get(topic)?.get(partition) ?? 0n,
    end: ends.get(partition) ?? 0n,
  }));
  const records: RawMessage[] = [];
  const consumer = newReader({ clientId: 'bench-verify', bootstrapBrokers: brokers });
  try {
    await readRanges(consumer, topic, ranges, (message) => records.push(message), {
      overallMs: 30_000,
      idleMs: 10_000,
    });
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
  return records;
}

/**
 * The log line of a send (functions/notification): `notification delivered` when a log line stands for the
 * message (NOTIFICATION_CHANNEL=log), `notification published` after the SNS topic took it.
 */
const DeliveryLine = z.object({
  message: z.enum(['notification delivered', 'notification published']),
  notificationId: z.string().min(1),
  kind: z.string().min(1),
});

const parseJson = (line: string): unknown => {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
};

/**
 * Sends counted in the runtime processes' logs, by notification id: the one effect of the pipeline that
 * is neither a table item nor a record. Lines that are not JSON (or not a delivery) are skipped.
 */
export async function readDeliveries(logFiles: readonly string[]): Promise<Map<string, number>> {
  const deliveries = new Map<string, number>();
  for (const file of logFiles) {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (!/"notification (delivered|published)"/.test(line)) continue;
      const parsed = DeliveryLine.safeParse(parseJson(line));
      const id = parsed.data?.notificationId;
      if (id) deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    }
  }
  return deliveries;
}

/**
 * The distinct Notification events of the orders whose id starts with `orderPrefix`, produced on the
 * Notification topic between two offsets, by event id (a record produced twice counts once).
 */
export async function readProducedNotifications(
  brokers: string[],
  from: Offsets,
  to: Offsets,
  orderPrefix: string,
) {
  const events = new Map<string, { orderId: string; kind: string }>();
  for (const message of await readRange(brokers, 'Notification', from, to)) {
    // Not an event: a poison record a chaos run injected, or anything else.
    const decoded = decode('Notification', message.value);
    if (!decoded.ok) continue;
    const { eventId, data } = decoded.event;
    if (data.orderId.startsWith(orderPrefix)) events.set(eventId, { orderId: data.orderId, kind: data.kind });
  }
  return events;
}

/**
 * What each order's final status says it was told, and nothing else is required; the last is the final
 * notification, of which an order gets exactly one, its own.
 */
const expectedNotificationKinds: Record<string, readonly string[]> = {
  SHIPPED: ['order-packed', 'order-shipped'],
  REJECTED: ['order-rejected'],
  CANCELLED: ['order-cancelled'],
};
const finalKinds = new Set(Object.values(expectedNotificationKinds).map((kinds) => kinds.at(-1)));

/**
 * `not-recorded`: a final-status order without the notification its status implies; `produced-not-recorded`:
 * on the Notification topic, never recorded (consumed and dropped, or never consumed); `recorded-not-delivered`:
 * no send seen; `delivered-not-recorded`: sent, never recorded; `contradicts-status`: the final notification
 * of another final status (e.g. order-shipped for a cancelled order).
 */
export type NotificationProblem =
  | 'not-recorded'
  | 'produced-not-recorded'
  | 'recorded-not-delivered'
  | 'delivered-not-recorded'
  | 'contradicts-status';

export type NotificationCheck = ReturnType<typeof checkNotifications>;

/**
 * Every notification once, and once only: what the orders' statuses imply, what was produced on the
 * topic, what the table recorded and what was sent must agree. `deliveries` undefined: sends not checked.
 */
export function checkNotifications(input: {
  orderStatus: ReadonlyMap<string, string>;
  recorded: readonly RecordedNotification[];
  produced?: ReadonlyMap<string, { orderId: string; kind: string }>;
  deliveries?: ReadonlyMap<string, number>;
}) {
  const { orderStatus, recorded, produced } = input;
  const deliveriesObserved =
    input.deliveries === undefined || input.deliveries.size > 0 || recorded.length === 0;
  const deliveries = deliveriesObserved ? input.deliveries : undefined;
  const key = (orderId: string, kind: string) => `${orderId}|${kind}`;
  const byKind = new Map<string, RecordedNotification[]>();
  for (const item of recorded) {
    const k = key(item.orderId, item.kind);
    byKind.set(k, [...(byKind.get(k) ?? []), item]);
  }
  const recordedIds = new Set(recorded.map((item) => item.notificationId));

  // (order, kind) recorded more than once: a second notification of a kind, which must never happen.
  const duplicates: { orderId: string; kind: string; recorded: number; delivered: number | undefined }[] = [];
  // One notification (one id) published more than once: a crash between the channel's publish and its
  // idempotency record's completion repeats the publish, with the same id, once its in-progress record
  // expires. Subscribers drop the repeat by its `notificationId` (SNS standard topics are at-least-once
  // anyway). Reported, not failed.
  const repeatedSends: { orderId: string; kind: string; delivered: number }[] = [];
  for (const items of byKind.values()) {
    const delivered = deliveries
      ? items.reduce((n, item) => n + (deliveries.get(item.notificationId) ?? 0), 0)
      : undefined;
    const { orderId, kind } = items[0] as RecordedNotification;
    if (items.length > 1) duplicates.push({ orderId, kind, recorded: items.length, delivered });
    else if ((delivered ?? 0) > 1) repeatedSends.push({ orderId, kind, delivered: delivered ?? 0 });
  }

  // (order, kind) with a missing piece, or told against its final status, once each (the first problem found).
  const missing = new Map<string, { orderId: string; kind: string; problem: NotificationProblem }>();
  const flag = (orderId: string, kind: string, problem: NotificationProblem) => {
    const k = key(orderId, kind);
    if (!missing.has(k)) missing.set(k, { orderId, kind, problem });
  };
  for (const [orderId, status] of orderStatus) {
    for (const kind of expectedNotificationKinds[status] ?? []) {
      if (!byKind.has(key(orderId, kind))) flag(orderId, kind, 'not-recorded');
    }
  }
  // Never two final kinds: a cancelled order told it shipped, a shipped one told it was cancelled.
  for (const item of recorded) {
    const own = expectedNotificationKinds[orderStatus.get(item.orderId) ?? '']?.at(-1);
    if (own && finalKinds.has(item.kind) && item.kind !== own) {
      flag(item.orderId, item.kind, 'contradicts-status');
    }
  }
  for (const [eventId, event] of produced ?? []) {
    if (!recordedIds.has(eventId)) flag(event.orderId, event.kind, 'produced-not-recorded');
  }
  if (deliveries) {
    for (const item of recorded) {
      if (!deliveries.has(item.notificationId)) flag(item.orderId, item.kind, 'recorded-not-delivered');
    }
    for (const id of deliveries.keys()) {
      if (recordedIds.has(id)) continue;
      const event = produced?.get(id);
      // A send of another run's notification (a shared log) is not ours to judge.
      if (event) flag(event.orderId, event.kind, 'delivered-not-recorded');
    }
  }
  // deliveriesObserved false: the logs held no send while notifications were recorded (a log level above INFO).
  return { duplicates, repeatedSends, missing: [...missing.values()], deliveriesObserved };
}

/** What `POST /orders/{id}/cancel` answered in the end (after the client's retries). */
export interface CancelAnswer {
  status: 202 | 409;
  /** The order's status in a 409's body. */
  currentStatus?: string;
}

export type CancellationCheck = ReturnType<typeof checkCancellations>;

/**
 * A 202 cancel always ends CANCELLED; a 409 only for an order that ended SHIPPED or REJECTED (else: a
 * contradiction). `cancelled`: orders that ended CANCELLED, asked or not; `cancelledFrom`: by the status
 * they were cancelled from (RECEIVED: before inventory saw them).
 */
export function checkCancellations(
  answers: ReadonlyMap<string, CancelAnswer>,
  orders: ReadonlyMap<string, OrderFacts>,
) {
  const contradictions: { orderId: string; answer: number; finalStatus: string | undefined }[] = [];
  let accepted = 0;
  for (const [orderId, answer] of answers) {
    const finalStatus = orders.get(orderId)?.status;
    if (answer.status === 202) accepted += 1;
    const fits =
      answer.status === 202
        ? finalStatus === 'CANCELLED'
        : ['SHIPPED', 'REJECTED'].includes(finalStatus ?? '');
    if (!fits) contradictions.push({ orderId, answer: answer.status, finalStatus });
  }
  const cancelledFrom: Record<string, number> = {};
  let cancelled = 0;
  for (const order of orders.values()) {
    if (order.status !== 'CANCELLED') continue;
    cancelled += 1;
    const from = order.cancelledFrom ?? 'unknown';
    cancelledFrom[from] = (cancelledFrom[from] ?? 0) + 1;
  }
  return { accepted, refused: answers.size - accepted, cancelled, cancelledFrom, contradictions };
}
