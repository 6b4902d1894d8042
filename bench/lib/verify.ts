/**
 * What a run left behind, read back from DynamoDB and the DeadLetterQueue topic: which orders finished,
 * whether any stock was reserved twice, any notification delivered twice, and what was dead-lettered.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { Consumer, type Message } from '@platformatic/kafka';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { localTableName, type TableName } from '../../topology/manifest.ts';
import type { Offsets } from './stack.ts';

type Item = Record<string, unknown>;

/** The notifications of an order that went all the way. */
const shippedOrderKinds = ['order-packed', 'order-shipped'];

async function scanAll(client: DynamoDBDocumentClient, table: string): Promise<Item[]> {
  const items: Item[] = [];
  for await (const page of paginateScan({ client }, { TableName: table, ConsistentRead: true })) {
    items.push(...((page.Items ?? []) as Item[]));
  }
  return items;
}

export interface EffectsReport {
  /** Orders in the orders table, by status. */
  statuses: Record<string, number>;
  /** Orders with an order-shipped notification recorded. */
  shipped: Set<string>;
  /** Shipped orders without one of the notifications every shipped order gets (packed, shipped). */
  missingNotifications: { orderId: string; kind: string }[];
  /** Notifications recorded more than once for the same order and kind. */
  duplicateNotifications: { orderId: string; kind: string; count: number }[];
  /** Per SKU, where stock arithmetic does not add up (a double or lost reservation). */
  stockMismatches: {
    sku: string;
    initial: number;
    available: number;
    reserved: number;
    expectedReserved: number;
  }[];
  /** Units reserved beyond what the confirmed orders asked for (0 when every reservation happened once). */
  doubleReservedUnits: number;
  notifications: number;
}

/**
 * Reads this run's tables. `initialStock` is what every SKU was seeded with; the expected reservations
 * are the quantities of every order that got past inventory (CONFIRMED, PACKED or SHIPPED).
 */
export async function readEffects(
  endpoint: string,
  tablePrefix: string,
  initialStock: number,
): Promise<EffectsReport> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(endpoint)));
  const table = (name: TableName) => localTableName(name, tablePrefix);
  try {
    const [orders, notifications, inventory] = await Promise.all([
      scanAll(client, table('orders')),
      scanAll(client, table('notifications')),
      scanAll(client, table('inventory')),
    ]);
    const statuses: Record<string, number> = {};
    const expected = new Map<string, number>();
    for (const order of orders) {
      const status = String(order.status);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (!['CONFIRMED', 'PACKED', 'SHIPPED'].includes(status)) continue;
      for (const item of (order.items ?? []) as { sku: string; quantity: number }[]) {
        expected.set(item.sku, (expected.get(item.sku) ?? 0) + item.quantity);
      }
    }
    const byKind = new Map<string, number>();
    const shipped = new Set<string>();
    for (const n of notifications) {
      const key = `${n.orderId}|${n.kind}`;
      byKind.set(key, (byKind.get(key) ?? 0) + 1);
      if (n.kind === 'order-shipped') shipped.add(String(n.orderId));
    }
    const duplicateNotifications = [...byKind]
      .filter(([, count]) => count > 1)
      .map(([key, count]) => {
        const [orderId = '', kind = ''] = key.split('|');
        return { orderId, kind, count };
      });
    const missingNotifications = [...shipped].flatMap((orderId) =>
      shippedOrderKinds
        .filter((kind) => !byKind.has(`${orderId}|${kind}`))
        .map((kind) => ({ orderId, kind })),
    );
    const stockMismatches: EffectsReport['stockMismatches'] = [];
    let doubleReservedUnits = 0;
    for (const item of inventory) {
      const sku = String(item.sku);
      const available = Number(item.available);
      const reserved = Number(item.reserved ?? 0);
      const expectedReserved = expected.get(sku) ?? 0;
      if (initialStock - available !== expectedReserved || reserved !== expectedReserved) {
        stockMismatches.push({ sku, initial: initialStock, available, reserved, expectedReserved });
      }
      doubleReservedUnits += Math.max(0, initialStock - available - expectedReserved);
    }
    return {
      statuses,
      shipped,
      duplicateNotifications,
      missingNotifications,
      stockMismatches,
      doubleReservedUnits,
      notifications: notifications.length,
    };
  } finally {
    client.destroy();
  }
}

export interface DeadLetter {
  /** `poison` or `retries-exhausted` (function-written), `RetriesExhausted` (event source mapping); `replay-marker` is none. */
  reason: string;
  /** The key of the record that failed (an order id, or a poison record's key). */
  originalKey: string | undefined;
  sourceTopic: string | undefined;
}

const fromBase64 = (text: unknown) =>
  typeof text === 'string' ? Buffer.from(text, 'base64').toString('utf8') : undefined;

/** Classifies a DeadLetterQueue record: a function's DeadLettered event or a Lambda on-failure record. */
export function parseDeadLetter(message: { key?: Buffer | null; value?: Buffer | null }): DeadLetter {
  const kafkaKey = message.key?.toString('utf8');
  try {
    const value = JSON.parse(message.value?.toString('utf8') ?? '') as {
      eventType?: string;
      data?: { reason?: string; record?: { key?: string | null; topic?: string } };
      requestContext?: { condition?: string };
      payload?: { records?: Record<string, { topic?: string }[]> };
    };
    // A marker `npm run dlq:replay` writes beside a replayed letter: not a dead letter.
    if (value.eventType === 'DeadLetterReplayed') {
      return { reason: 'replay-marker', originalKey: kafkaKey, sourceTopic: undefined };
    }
    if (value.eventType === 'DeadLettered') {
      return {
        reason: value.data?.reason ?? 'unknown',
        originalKey: fromBase64(value.data?.record?.key ?? undefined),
        sourceTopic: value.data?.record?.topic,
      };
    }
    if (value.requestContext?.condition) {
      const first = Object.values(value.payload?.records ?? {})[0]?.[0];
      return { reason: value.requestContext.condition, originalKey: kafkaKey, sourceTopic: first?.topic };
    }
  } catch {
    // Not JSON: reported as is.
  }
  return { reason: 'unreadable', originalKey: kafkaKey, sourceTopic: undefined };
}

/** Every record of `topic` between `from` (inclusive) and `to` (exclusive) offsets. */
export async function readRange(
  brokers: string[],
  topic: string,
  from: Offsets,
  to: Offsets,
  timeoutMs = 30_000,
): Promise<Message<Buffer, Buffer, Buffer, Buffer>[]> {
  const wanted = new Map<number, [bigint, bigint]>();
  for (const [partition, end] of to.get(topic) ?? []) {
    const start = from.get(topic)?.get(partition) ?? 0n;
    if (end > start) wanted.set(partition, [start, end]);
  }
  if (wanted.size === 0) return [];
  const consumer = new Consumer({
    clientId: 'bench-verify',
    groupId: `bench-verify-${process.pid}-${Date.now()}`,
    bootstrapBrokers: brokers,
    autocommit: false,
    maxWaitTime: 200,
  });
  const records: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
  const stream = await consumer.consume({
    topics: [topic],
    mode: 'earliest',
    autocommit: false,
    maxWaitTime: 200,
  });
  const timer = setTimeout(() => void stream.close(), timeoutMs);
  try {
    const remaining = new Set(wanted.keys());
    for await (const message of stream as AsyncIterable<Message<Buffer, Buffer, Buffer, Buffer>>) {
      const range = wanted.get(message.partition);
      if (!range) continue;
      if (message.offset >= range[0] && message.offset < range[1]) records.push(message);
      if (message.offset >= range[1] - 1n) remaining.delete(message.partition);
      if (remaining.size === 0) break;
    }
  } finally {
    clearTimeout(timer);
    await stream.close().catch(() => undefined);
    await consumer.close(true).catch(() => undefined);
  }
  return records;
}
