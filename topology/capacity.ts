/**
 * The capacity model of the deployed stack (docs/capacity.md): how many orders per second each part of it
 * carries, from AWS's documented limits, the manifest, the deployment's defaults and the bench's per-order
 * figures. Pure: no I/O. docs/capacity.md's tables are this module's numbers (capacity.test.ts checks).
 *
 * AWS's limits, where each is documented:
 * - API Gateway: 10,000 requests/s per account and Region (2,500 in some newer Regions), across APIs:
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
 * - DynamoDB on-demand: 40,000 read and 40,000 write units/s per table by default (a quota);
 *   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html
 *   a new on-demand table sustains 4,000 writes and 12,000 reads per second at once, and up to double its
 *   previous peak: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html
 *   (per partition: ./contention.ts).
 * - SNS Publish (standard topics), per account and Region: 30,000 messages/s in us-east-1, 9,000 in
 *   us-west-2 and eu-west-1, 1,500 (300 in the smallest Regions) elsewhere, raisable:
 *   https://docs.aws.amazon.com/general/latest/gr/sns.html
 * - Kafka event source mappings: in Stream mode each partition is read by one consumer, in order
 *   (https://docs.aws.amazon.com/lambda/latest/dg/polling-kafka-queue.html), so a mapping runs at most one
 *   invocation per partition at a time; Lambda caps a mapping's pollers at the topic's partitions, in
 *   provisioned mode as in on-demand mode (which adds pollers on offset lag, within three minutes of a
 *   one-minute evaluation): https://docs.aws.amazon.com/lambda/latest/dg/kafka-scaling-modes.html
 * - Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB:
 *   https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
 */
import { readConfig } from '../infra/lib/config.ts';
import { contention, DEFAULT_TRANSACTION_MS, ORDERS_PER_INVOCATION, pipelineWriters } from './contention.ts';
import { manifest } from './manifest.ts';
import { kafkaTriggerOf } from './topics.ts';
import type { KafkaTrigger } from './types.ts';

export const AWS_LIMITS = {
  apiGatewayAccountRps: 10_000,
  dynamoDbTableUnitsPerSecond: 40_000,
  dynamoDbNewTableWriteUnitsPerSecond: 4_000,
  dynamoDbNewTableReadUnitsPerSecond: 12_000,
  snsPublishPerSecond: { 'us-east-1': 30_000, 'us-west-2': 9_000, 'eu-west-1': 9_000, other: 1_500 },
  lambdaMbPerVcpu: 1_769,
} as const;

/**
 * The bench's per-order figures: `npm run bench` at 47c84cf (bench/results/latest.json, bench/README
 * "On the isolated runtime"), each function in execution environments of its own.
 */
export const BENCH = {
  commit: '47c84cf',
  /** Request units per order, by table, as the endpoint reports them (throughput phase). */
  writeUnitsPerOrder: { orders: 7, inventory: 4, idempotency: 4, notifications: 2 },
  readUnitsPerOrder: { orders: 2, inventory: 0.13, idempotency: 0, notifications: 0 },
  snsPublishesPerOrder: 2,
  apiRequestsPerOrder: 1,
  /** Records per order on each consumed topic of the order path. */
  recordsPerOrder: { OrderReceived: 1, OrderConfirmed: 1, OrderPickedAndPacked: 1, Notification: 2 },
  /** Billed ms of a one-record invocation (latency phase: 1.0–1.05 records per invocation). */
  oneRecordInvocationMs: { inventory: 28.4, warehouse: 25.6, shipper: 29.9, notification: 46.8 },
  /** CPU ms per order of every function and emulator (throughput phase), over its 9.2 records and request. */
  runtimeCpuMsPerOrder: 64.93,
  handledPerOrder: 9.2,
  /** Kafka GB retained (all replicas, the manifest's retention) per order/s sustained (cost.kafkaStorage). */
  retainedGbPerOrderPerSecond: 6.273,
} as const;

type OrderPathConsumer = keyof typeof BENCH.oneRecordInvocationMs;
const ORDER_PATH: OrderPathConsumer[] = ['inventory', 'warehouse', 'shipper', 'notification'];

export interface HopCapacity {
  fn: OrderPathConsumer;
  topic: keyof typeof BENCH.recordsPerOrder;
  partitions: number;
  batchSize: number;
  /** A full batch's invocation: the larger of its I/O time and its CPU time at the function's vCPU share. */
  fullBatchMs: number;
  /** Orders/s when every invocation carries one record (low load, window 0). */
  oneRecordOrdersPerSecond: number;
  /** Orders/s with full batches: partitions × batch ÷ full-batch duration ÷ records per order. */
  fullBatchOrdersPerSecond: number;
}

/** CPU ms per record handled, all functions alike (the bench does not split CPU by function). */
export const cpuMsPerRecord = () => BENCH.runtimeCpuMsPerOrder / BENCH.handledPerOrder;

function kafkaTrigger(fn: OrderPathConsumer): KafkaTrigger {
  const trigger = kafkaTriggerOf(fn);
  if (!trigger) throw new Error(`${fn} is not Kafka-triggered`);
  return trigger;
}

/** One Kafka hop of the order path: one invocation per partition at a time (see the module comment). */
export function hopCapacity(fn: OrderPathConsumer): HopCapacity {
  const trigger = kafkaTrigger(fn);
  const topic = trigger.topic as HopCapacity['topic'];
  const partitions = manifest.topics[topic].partitions;
  const batch = trigger.batchSize;
  const vcpu = manifest.functions[fn].memoryMb / AWS_LIMITS.lambdaMbPerVcpu;
  const oneRecord = BENCH.oneRecordInvocationMs[fn];
  const ioMs = Math.ceil(batch / ORDERS_PER_INVOCATION) * oneRecord;
  const cpuMs = (batch * cpuMsPerRecord()) / vcpu;
  const fullBatchMs = Math.max(ioMs, cpuMs);
  const perOrder = BENCH.recordsPerOrder[topic];
  return {
    fn,
    topic,
    partitions,
    batchSize: batch,
    fullBatchMs,
    oneRecordOrdersPerSecond: (partitions * 1000) / oneRecord / perOrder,
    fullBatchOrdersPerSecond: (partitions * batch * 1000) / fullBatchMs / perOrder,
  };
}

export const hopCapacities = (): HopCapacity[] => ORDER_PATH.map(hopCapacity);

export interface TableCapacity {
  table: keyof typeof BENCH.writeUnitsPerOrder;
  writeUnitsPerOrder: number;
  readUnitsPerOrder: number;
  /** Orders/s a new on-demand table takes at once (4,000 writes / 12,000 reads per second). */
  newTableOrdersPerSecond: number;
  /** Orders/s at the default table quota (40,000 units/s each way). */
  quotaOrdersPerSecond: number;
}

const perSecond = (limit: number, units: number) => (units > 0 ? limit / units : Number.POSITIVE_INFINITY);

export function tableCapacities(): TableCapacity[] {
  return (Object.keys(BENCH.writeUnitsPerOrder) as TableCapacity['table'][]).map((table) => {
    const writes = BENCH.writeUnitsPerOrder[table];
    const reads = BENCH.readUnitsPerOrder[table];
    return {
      table,
      writeUnitsPerOrder: writes,
      readUnitsPerOrder: reads,
      newTableOrdersPerSecond: Math.min(
        perSecond(AWS_LIMITS.dynamoDbNewTableWriteUnitsPerSecond, writes),
        perSecond(AWS_LIMITS.dynamoDbNewTableReadUnitsPerSecond, reads),
      ),
      quotaOrdersPerSecond: Math.min(
        perSecond(AWS_LIMITS.dynamoDbTableUnitsPerSecond, writes),
        perSecond(AWS_LIMITS.dynamoDbTableUnitsPerSecond, reads),
      ),
    };
  });
}

export interface Limit {
  name: string;
  ordersPerSecond: number;
  /** `sustained`: holds only over hours (storage); `rate`: a per-second limit. */
  kind: 'rate' | 'sustained';
  /** What raises it. */
  past: string;
}

/** A per-second limit: `ordersPerSecond` at most, raised by what `past` says. */
const rateLimit = (name: string, ordersPerSecond: number, past: string): Limit => ({
  name,
  ordersPerSecond,
  kind: 'rate',
  past,
});

/** Every limit of the default deployment, in orders/s, lowest first. */
export function limits(options: { transactionMs?: number; region?: string } = {}): Limit[] {
  const config = readConfig(() => undefined);
  const sns =
    AWS_LIMITS.snsPublishPerSecond[(options.region ?? 'us-east-1') as 'us-east-1'] ??
    AWS_LIMITS.snsPublishPerSecond.other;
  const sku = contention({
    ordersPerSecond: 1,
    concurrentWriters: pipelineWriters(),
    transactionMs: options.transactionMs ?? DEFAULT_TRANSACTION_MS,
  });
  const storageGb = config.brokerVolumeGiB * 2;
  const all: Limit[] = [
    {
      name: `Kafka storage (2 × ${config.brokerVolumeGiB} GiB, ${manifest.topics.OrderReceived.retentionHours} h retention)`,
      ordersPerSecond: storageGb / BENCH.retainedGbPerOrderPerSecond,
      kind: 'sustained',
      past: '-c brokerVolumeGiB=N (linear), or shorter retention',
    },
    rateLimit(
      'API stage throttling (apiRateLimit)',
      config.apiRateLimit / BENCH.apiRequestsPerOrder,
      '-c apiRateLimit=N, up to the account limit',
    ),
    rateLimit(
      'one SKU (its stock item)',
      sku.ceiling,
      'stock buckets for a hot SKU (× buckets; designed, not built)',
    ),
    ...hopCapacities().map((hop) =>
      rateLimit(
        `${hop.fn} hop (${hop.partitions} partitions of ${hop.topic}, full batches)`,
        hop.fullBatchOrdersPerSecond,
        'more partitions (× partitions), or more memory (CPU)',
      ),
    ),
    ...tableCapacities().map((table) =>
      rateLimit(
        `${table.table} table (new on-demand table)`,
        table.newTableOrdersPerSecond,
        'warm throughput, or traffic ramped over 30 min (on-demand doubles its peak)',
      ),
    ),
    rateLimit(
      `SNS Publish (${options.region ?? 'us-east-1'})`,
      sns / BENCH.snsPublishesPerOrder,
      'a quota increase',
    ),
    rateLimit(
      'API Gateway account limit',
      AWS_LIMITS.apiGatewayAccountRps / BENCH.apiRequestsPerOrder,
      'a quota increase',
    ),
  ];
  return all.sort((a, b) => a.ordersPerSecond - b.ordersPerSecond);
}

/** How docs/capacity.md writes a rate: integers with separators from 100 up, one decimal below. */
export const formatRate = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);
