/**
 * Test doubles of this project's own ports, for unit tests (no Kafka, no DynamoDB there).
 * Never imported by a handler.
 */
import {
  IdempotencyItemAlreadyExistsError,
  IdempotencyItemNotFoundError,
} from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, type IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, MSKEvent, MSKRecord } from 'aws-lambda';
import { decode, type EncodedRecord, newEvent } from '../../events/codec.ts';
import type { Order } from '../../events/schemas/order.ts';
import type { EventOf, TopicName } from '../../events/topics.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import { orderReceivedId } from './orders/events.ts';
import {
  CANCELLABLE,
  type Cancellation,
  newStoredOrder,
  outboxShardOf,
  type StoredOrder,
  type Transition,
} from './orders/model.ts';
import type { OrdersPort } from './orders/repository.ts';
import type { StepLogger } from './step-types.ts';

/**
 * Powertools idempotency over a Map: the real IdempotencyHandler logic (in-progress, completed, payload
 * validation, deletion on failure) with the storage faked, behaving as the DynamoDB layer's conditions do.
 */
export class MemoryPersistenceLayer extends BasePersistenceLayer {
  readonly records = new Map<string, IdempotencyRecord>();

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    const record = this.records.get(idempotencyKey);
    if (!record) throw new IdempotencyItemNotFoundError();
    return record;
  }

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    const existing = this.records.get(record.idempotencyKey);
    const inProgressExpired =
      existing?.getStatus() === 'INPROGRESS' &&
      existing.inProgressExpiryTimestamp !== undefined &&
      existing.inProgressExpiryTimestamp < Date.now();
    if (existing && !existing.isExpired() && !inProgressExpired) {
      throw new IdempotencyItemAlreadyExistsError(`exists: ${record.idempotencyKey}`, existing);
    }
    this.records.set(record.idempotencyKey, record);
  }

  protected async _updateRecord(record: IdempotencyRecord): Promise<void> {
    this.records.set(record.idempotencyKey, record);
  }

  protected async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    this.records.delete(record.idempotencyKey);
  }
}

export function fakeContext(name = 'test-function'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: 'req-test',
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export const silentLogger = (): Logger => new Logger({ serviceName: 'test', logLevel: 'SILENT' });
export const testMetrics = (): Metrics => new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'test' });

/** Metric names stored in `metrics` and not flushed yet, with their values. */
export function storedMetrics(metrics: Metrics): Record<string, number[]> {
  const emf = metrics.serializeMetrics() as unknown as Record<string, unknown>;
  const names = (
    emf._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }
  ).CloudWatchMetrics[0]?.Metrics.map((m) => m.Name);
  return Object.fromEntries(
    (names ?? []).map((name) => {
      const value = emf[name];
      return [name, Array.isArray(value) ? (value as number[]) : [value as number]];
    }),
  );
}

export interface MskRecordInput {
  topic: string;
  partition?: number;
  offset: number;
  key?: string | null;
  /** Raw bytes, or an encoded record whose value, key and headers are used. */
  value: Buffer | string | null;
  headers?: Record<string, string>;
  timestamp?: number;
}

/** One MSK record exactly as the event source mapping shapes it: base64 key/value, headers as byte arrays. */
export function mskRecord(input: MskRecordInput): MSKRecord {
  const record: Partial<MSKRecord> & Pick<MSKRecord, 'topic' | 'partition' | 'offset'> = {
    topic: input.topic,
    partition: input.partition ?? 0,
    offset: input.offset,
    timestamp: input.timestamp ?? 1_764_000_000_000,
    timestampType: 'CREATE_TIME',
    headers: Object.entries(input.headers ?? {}).map(([key, value]) => ({ [key]: [...Buffer.from(value)] })),
  };
  if (input.key !== null && input.key !== undefined) record.key = Buffer.from(input.key).toString('base64');
  if (input.value !== null) record.value = Buffer.from(input.value).toString('base64');
  return record as MSKRecord;
}

export function fromEncoded(encoded: EncodedRecord, offset: number, partition = 0): MSKRecord {
  return mskRecord({
    topic: encoded.topic,
    partition,
    offset,
    key: encoded.key,
    value: encoded.value,
    headers: encoded.headers,
  });
}

export function mskEvent(records: MSKRecord[]): MSKEvent {
  const grouped: Record<string, MSKRecord[]> = {};
  for (const record of records) {
    const key = `${record.topic}-${record.partition}`;
    grouped[key] ??= [];
    grouped[key].push(record);
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/test/abc',
    bootstrapServers: 'localhost:9092',
    records: grouped,
  };
}

/** Collects what a step produces; `fail` makes the next sends throw, as a broker outage would. */
export class RecordingProducer {
  readonly sent: EncodedRecord[] = [];
  failures = 0;

  readonly produce = async (records: readonly EncodedRecord[]): Promise<void> => {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('broker unavailable');
    }
    this.sent.push(...records);
  };

  on<T extends TopicName>(topic: T): EventOf<T>[] {
    return this.sent
      .filter((record) => record.topic === topic)
      .map((record) => {
        const decoded = decode(topic, record.value);
        if (!decoded.ok) throw decoded.error;
        return decoded.event;
      });
  }
}

/** The orders table as a Map, applying transitions with the same conditions the DynamoDB update has. */
export class MemoryOrders implements OrdersPort {
  readonly items = new Map<string, StoredOrder>();

  async get(orderId: string) {
    const item = this.items.get(orderId);
    return item ? structuredClone(item) : undefined;
  }

  async create(order: StoredOrder) {
    const existing = this.items.get(order.orderId);
    if (existing) return { created: false as const, existing: structuredClone(existing) };
    this.items.set(order.orderId, structuredClone(order));
    return { created: true as const };
  }

  async cancel(c: Cancellation) {
    const current = this.items.get(c.orderId);
    if (!current || !CANCELLABLE.includes(current.status)) {
      return { applied: false as const, current: current ? structuredClone(current) : undefined };
    }
    const next: StoredOrder = {
      ...current,
      status: 'CANCELLED',
      cancelledFrom: current.status,
      ...(c.reason ? { cancellationReason: c.reason } : {}),
      outboxShard: outboxShardOf(c.orderId),
      history: [
        ...current.history,
        { status: 'CANCELLED', at: c.at, ...(c.reason ? { detail: c.reason } : {}) },
      ],
    };
    this.items.set(c.orderId, next);
    return { applied: true as const, order: structuredClone(next) };
  }

  async transition(t: Transition) {
    const current = this.items.get(t.orderId);
    const matches = (order: StoredOrder) =>
      Object.entries(t.match ?? {}).every(
        ([path, value]) =>
          path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], order) ===
          value,
      );
    const allowed =
      current && t.from.includes(current.status) && current.digest === t.digest && matches(current);
    if (!allowed) return { applied: false as const, current: current ? structuredClone(current) : undefined };
    const next: StoredOrder = {
      ...current,
      ...(t.set as Partial<StoredOrder>),
      status: t.to,
      history: [...current.history, { status: t.to, at: t.at, ...(t.detail ? { detail: t.detail } : {}) }],
    };
    for (const attribute of t.remove ?? []) delete (next as Record<string, unknown>)[attribute];
    this.items.set(t.orderId, next);
    return { applied: true as const, order: structuredClone(next) };
  }
}

/** A stored RECEIVED order, as order-api writes it. */
export const storedOrder = (order: Order = sampleOrder()): StoredOrder =>
  newStoredOrder(order, { requestHash: 'hash', requestId: `req-${order.orderId}` });

export function sampleOrder(overrides: Partial<Order> = {}): Order {
  return {
    orderId: 'ord-1',
    customerId: 'cust-1',
    items: [
      { sku: 'SKU-TSHIRT-M', name: 'T-shirt (M)', quantity: 2, unitPrice: 19.99 },
      { sku: 'SKU-MUG', name: 'Coffee mug', quantity: 1, unitPrice: 12.5 },
    ],
    total: 52.48,
    currency: 'USD',
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Seattle', postalCode: '98101', country: 'US' },
    placedAt: '2026-11-24T10:00:00.000Z',
    ...overrides,
  };
}

/** The genuine OrderReceived of `order` (its id derives from the order id). */
export const orderReceived = (order: Order = sampleOrder(), occurredAt = new Date(order.placedAt)) =>
  newEvent('OrderReceived', {
    eventId: orderReceivedId(order.orderId),
    correlationId: order.orderId,
    causationId: `req-${order.orderId}`,
    source: 'order-api',
    occurredAt,
    data: { order },
  });

/** A step logger that keeps its lines, to assert what is (and is not) logged. */
export class RecordingLogger implements StepLogger {
  readonly lines: { level: string; message: string; attributes: Record<string, unknown> }[] = [];
  debug = (message: string, attributes: Record<string, unknown> = {}) =>
    this.push('debug', message, attributes);
  info = (message: string, attributes: Record<string, unknown> = {}) =>
    this.push('info', message, attributes);
  warn = (message: string, attributes: Record<string, unknown> = {}) =>
    this.push('warn', message, attributes);
  error = (message: string, attributes: Record<string, unknown> = {}) =>
    this.push('error', message, attributes);
  private push(level: string, message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level, message, attributes });
  }
}

/** The stored order in each state it can be in, as the steps leave it. */
export function ordersInEveryState() {
  const at = (status: StoredOrder['status']) => ({ status, at: '2026-11-24T10:00:01.000Z' });
  const received = storedOrder(sampleOrder());
  const confirmed: StoredOrder = {
    ...received,
    status: 'CONFIRMED',
    history: [...received.history, at('CONFIRMED')],
  };
  const parcel = { parcelId: 'PCL-1', weightGrams: 900, size: 'S' } as const;
  const packed: StoredOrder = {
    ...confirmed,
    status: 'PACKED',
    parcel,
    history: [...confirmed.history, at('PACKED')],
  };
  const shipped: StoredOrder = {
    ...packed,
    status: 'SHIPPED',
    carrier: 'SwiftPost',
    trackingNumber: 'SP00000000001',
    history: [...packed.history, at('SHIPPED')],
  };
  const rejected: StoredOrder = {
    ...received,
    status: 'REJECTED',
    rejectionReason: 'SKU-MUG is out of stock',
    history: [...received.history, at('REJECTED')],
  };
  const cancel = (from: StoredOrder): StoredOrder => ({
    ...from,
    status: 'CANCELLED',
    cancelledFrom: from.status,
    cancellationReason: 'changed my mind',
    history: [...from.history, at('CANCELLED')],
  });
  return {
    RECEIVED: received,
    CONFIRMED: confirmed,
    PACKED: packed,
    SHIPPED: shipped,
    REJECTED: rejected,
    'CANCELLED from RECEIVED': cancel(received),
    'CANCELLED from CONFIRMED': cancel(confirmed),
    'CANCELLED from PACKED': cancel(packed),
  };
}
