import * as z from 'zod';
import { envelopeOf, StepName } from '../envelope.ts';
import { dynamoDbNumber } from './numbers.ts';
import { Order, OrderId } from './order.ts';

export const OrderReceived = envelopeOf('OrderReceived', z.object({ order: Order }));
export type OrderReceived = z.infer<typeof OrderReceived>;

export const OrderConfirmed = envelopeOf(
  'OrderConfirmed',
  z.object({ order: Order, reservedAt: z.iso.datetime({ offset: true }) }),
);
export type OrderConfirmed = z.infer<typeof OrderConfirmed>;

/** Why a customer cancelled: free text, bounded, optional. */
export const CancellationReason = z.string().trim().min(1).max(500);

/**
 * An order was cancelled (order-api moved it to CANCELLED). Inventory gives back what it reserved for
 * it, from the stored order: the event carries no more than the order id and the reason.
 */
export const OrderCancelled = envelopeOf(
  'OrderCancelled',
  z.object({
    orderId: OrderId,
    reason: CancellationReason.optional(),
    cancelledAt: z.iso.datetime({ offset: true }),
  }),
);
export type OrderCancelled = z.infer<typeof OrderCancelled>;

export const Parcel = z.object({
  parcelId: z.string().min(1),
  weightGrams: dynamoDbNumber(z.int().positive()),
  size: z.enum(['S', 'M', 'L', 'XL']),
});
export type Parcel = z.infer<typeof Parcel>;

export const OrderPickedAndPacked = envelopeOf(
  'OrderPickedAndPacked',
  z.object({ order: Order, parcel: Parcel, packedAt: z.iso.datetime({ offset: true }) }),
);
export type OrderPickedAndPacked = z.infer<typeof OrderPickedAndPacked>;

export const NotificationKind = z.enum([
  'order-rejected',
  'order-confirmed',
  'order-packed',
  'order-shipped',
  'order-cancelled',
]);
export type NotificationKind = z.infer<typeof NotificationKind>;

export const Notification = envelopeOf(
  'Notification',
  z.object({
    orderId: OrderId,
    customerId: z.string().min(1),
    kind: NotificationKind,
    channel: z.enum(['email']),
    subject: z.string().min(1),
    message: z.string().min(1),
    /** Kind-specific facts: the rejection reason, the carrier and tracking number, ... */
    details: z.record(z.string(), z.union([z.string(), dynamoDbNumber()])).default({}),
  }),
);
export type Notification = z.infer<typeof Notification>;

/** A Kafka header as it travelled, value base64 so any bytes survive. */
export const RecordHeader = z.object({ key: z.string(), value: z.base64() });

/**
 * A record that can never succeed (not JSON, fails its schema, unknown type, too large, refused by a rule)
 * or that exhausted its retries, with everything needed to understand and replay it.
 *
 * A dead letter always fits on the DeadLetterQueue topic: when the original record is too large to copy
 * whole, `value` (and `key`) hold the base64 of its first bytes only, flagged `valueTruncated` (`keyTruncated`)
 * with the original size in `valueBytes` (`keyBytes`), and headers may be dropped or cut (`headersTruncated`).
 * The original itself stays on its topic, at the same coordinates, for the topic's retention period.
 */
export const DeadLettered = envelopeOf(
  'DeadLettered',
  z.object({
    reason: z.enum(['poison', 'retries-exhausted']),
    function: StepName,
    error: z.object({ name: z.string(), message: z.string() }),
    attempts: z.int().nonnegative(),
    record: z.object({
      topic: z.string().min(1),
      partition: z.int().nonnegative(),
      offset: z.string().regex(/^\d+$/),
      timestamp: z.number().optional(),
      key: z.base64().nullable(),
      /** The original key's size in bytes, when `key` holds only a prefix of it. */
      keyBytes: z.int().nonnegative().optional(),
      keyTruncated: z.boolean().optional(),
      value: z.base64().nullable(),
      /** The original value's size in bytes, when `value` holds only a prefix of it (at most 16 KiB). */
      valueBytes: z.int().nonnegative().optional(),
      valueTruncated: z.boolean().optional(),
      headers: z.array(RecordHeader),
      /** True when some headers were left out or their values cut short. */
      headersTruncated: z.boolean().optional(),
    }),
  }),
);
export type DeadLettered = z.infer<typeof DeadLettered>;

export const KpiName = z.enum([
  'OrdersReceived',
  'OrdersConfirmed',
  'OrdersRejected',
  'OrdersPacked',
  'OrdersShipped',
  'OrdersCancelled',
  'StockReleased',
  'NotificationsDelivered',
  'RecordsDeadLettered',
  /** Values a step measured that were no measurement (a latency from a timestamp centuries back, say). */
  'KpiValuesDropped',
  'StepLatency',
  'EndToEndLatency',
]);
export type KpiName = z.infer<typeof KpiName>;

/**
 * The KPIs of one step invocation, in one record (not one per metric): each metric with every value it
 * took in the invocation — a count's increments, a latency's measurements — so a reader can sum, count
 * or take percentiles, as it could from one record per value.
 */
export const KpiRecorded = envelopeOf(
  'KpiRecorded',
  z.object({
    step: StepName,
    metrics: z
      .array(
        z.object({
          name: KpiName,
          unit: z.enum(['Count', 'Milliseconds']),
          values: z.array(z.number().finite().min(0).max(1e12)).min(1).max(10_000),
        }),
      )
      .min(1)
      .max(KpiName.options.length),
    /** The orders the invocation moved, so a dashboard can follow one. */
    orderIds: z.array(OrderId).max(10_000).default([]),
  }),
);
export type KpiRecorded = z.infer<typeof KpiRecorded>;

/**
 * What Lambda itself writes to a Kafka on-failure destination when a batch exhausts its retries or its
 * records are too old (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html,
 * "Record format for a Kafka destination"): the failure's context and, under `payload`, an MSK event
 * holding the failed record. The one definition of that record: the local event source mapping writes
 * it (`local/runtime/msk-event.ts`), the DLQ tool reads it. It shares the `DeadLetterQueue` topic with
 * `DeadLettered`, so readers of that topic accept both (see `tools/dlq`, which checks only the fields it
 * relies on). Fields beyond these pass through.
 */
export const LambdaKafkaFailureRecord = z.looseObject({
  requestContext: z.looseObject({
    requestId: z.string(),
    functionArn: z.string(),
    /** `RetriesExhausted` in the page's example; the local emulator says `RecordAgeExceeded` for expired records. */
    condition: z.string(),
    approximateInvokeCount: z.int().nonnegative(),
  }),
  responseContext: z.looseObject({
    statusCode: z.int(),
    executedVersion: z.string(),
    functionError: z.string(),
  }),
  version: z.string(),
  timestamp: z.string(),
  KafkaBatchInfo: z.looseObject({
    batchSize: z.int().positive(),
    eventSourceArn: z.string(),
    bootstrapServers: z.string(),
    /** Bytes of the JSON `payload` (of the original record's, when the emulator reduced it). */
    payloadSize: z.int().nonnegative(),
    recordInfo: z.looseObject({ offset: z.string(), timestamp: z.string() }),
  }),
  payload: z.looseObject({
    eventSource: z.literal('aws:kafka'),
    eventSourceArn: z.string(),
    bootstrapServers: z.string(),
    records: z.record(
      z.string(),
      z.array(
        z.looseObject({
          topic: z.string().min(1),
          partition: z.int().nonnegative(),
          offset: z.number().int().nonnegative(),
          timestamp: z.number().optional(),
          key: z.base64().optional(),
          value: z.base64().optional(),
          headers: z.array(z.record(z.string(), z.array(z.int().min(0).max(255)))).default([]),
          // A reduced failure record (too large for the topic whole) says what it left out, as DeadLettered does.
          valueBytes: z.int().nonnegative().optional(),
          valueTruncated: z.boolean().optional(),
          keyBytes: z.int().nonnegative().optional(),
          keyTruncated: z.boolean().optional(),
          headersTruncated: z.boolean().optional(),
        }),
      ),
    ),
  }),
});
export type LambdaKafkaFailureRecord = z.infer<typeof LambdaKafkaFailureRecord>;
