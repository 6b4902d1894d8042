import type { TopicName } from '../events/topics.ts';
import type { FunctionSpec, Manifest } from './types.ts';
import { validateManifest } from './validate.ts';

/**
 * The single source of truth for the pipeline's topology. `infra/` (CDK) and `local/` (the local
 * runtime) both read this object; nothing here is declared anywhere else.
 */
export const manifest = validateManifest({
  topics: {
    OrderReceived: { partitions: 6, retentionHours: 168, key: 'orderId' },
    OrderConfirmed: { partitions: 6, retentionHours: 168, key: 'orderId' },
    OrderPickedAndPacked: { partitions: 6, retentionHours: 168, key: 'orderId' },
    Notification: { partitions: 6, retentionHours: 168, key: 'orderId' },
    // Cancellations travel on a topic of their own: they may overtake or trail an order's other events,
    // and the order's conditional state transitions, not arrival order, decide every race.
    OrderCancelled: { partitions: 6, retentionHours: 168, key: 'orderId' },
    // Dead letters are kept for two weeks so that an operator has time to replay them.
    DeadLetterQueue: { partitions: 3, retentionHours: 336, key: 'orderId' },
    KPIs: { partitions: 3, retentionHours: 72, key: 'orderId' },
  },
  tables: {
    idempotency: {
      partitionKey: { name: 'id', type: 'S' },
      // Powertools idempotency expects its TTL attribute to be called `expiration`.
      ttlAttribute: 'expiration',
    },
    orders: {
      partitionKey: { name: 'orderId', type: 'S' },
      indexes: {
        // Sparse: only orders whose event inventory has yet to act on carry `outboxShard` (a new order
        // until its reservation is decided, a cancelled one until its stock is given back), so the outbox
        // sweeper reads the few that may have lost their OrderReceived or OrderCancelled, oldest first,
        // whole (it rebuilds the event from the item).
        outbox: {
          partitionKey: { name: 'outboxShard', type: 'S' },
          sortKey: { name: 'placedAt', type: 'S' },
          projection: 'all',
        },
      },
    },
    inventory: { partitionKey: { name: 'sku', type: 'S' } },
    notifications: {
      partitionKey: { name: 'orderId', type: 'S' },
      sortKey: { name: 'notificationId', type: 'S' },
    },
  },
  channels: {
    // What reaches the customer: one message per notification, with `customerId`, `kind`, `orderId` and
    // `notificationId` attributes for subscription filter policies.
    notifications: { kind: 'sns', displayName: 'Order pipeline' },
  },
  functions: {
    'order-api': {
      entry: 'functions/order-api/handler.ts',
      description: 'POST /orders, GET /orders/{id}, POST /orders/{id}/cancel, GET /health',
      trigger: {
        kind: 'http',
        routes: [
          { method: 'GET', resource: '/health', auth: 'none' },
          { method: 'POST', resource: '/orders', auth: 'iam' },
          { method: 'GET', resource: '/orders/{id}', auth: 'iam' },
          { method: 'POST', resource: '/orders/{id}/cancel', auth: 'iam' },
        ],
      },
      produces: ['OrderReceived', 'OrderCancelled', 'KPIs'],
      tables: { orders: 'readwrite', idempotency: 'readwrite', inventory: 'read', notifications: 'read' },
      memoryMb: 512,
      timeoutSeconds: 10,
      maxConcurrency: 16,
      environment: {},
    },
    inventory: {
      entry: 'functions/inventory/handler.ts',
      description: 'Reserves stock for every line of an order, atomically',
      trigger: kafkaTrigger('OrderReceived'),
      produces: ['OrderConfirmed', 'Notification', 'KPIs', 'DeadLetterQueue'],
      tables: { inventory: 'readwrite', orders: 'readwrite', idempotency: 'readwrite' },
      memoryMb: 512,
      timeoutSeconds: 30,
      maxConcurrency: 6,
      environment: {},
    },
    'inventory-release': {
      entry: 'functions/inventory-release/handler.ts',
      description: "Gives a cancelled order's reserved stock back, exactly once, and tells the customer",
      trigger: kafkaTrigger('OrderCancelled'),
      produces: ['Notification', 'KPIs', 'DeadLetterQueue'],
      // idempotency: every consumer guards its dead letters with a Powertools record.
      tables: { inventory: 'readwrite', orders: 'readwrite', idempotency: 'readwrite' },
      memoryMb: 512,
      timeoutSeconds: 30,
      maxConcurrency: 6,
      environment: {},
    },
    warehouse: {
      entry: 'functions/warehouse/handler.ts',
      description: 'Picks and packs confirmed orders',
      trigger: kafkaTrigger('OrderConfirmed'),
      produces: ['OrderPickedAndPacked', 'Notification', 'KPIs', 'DeadLetterQueue'],
      tables: { orders: 'readwrite', idempotency: 'readwrite' },
      memoryMb: 512,
      timeoutSeconds: 30,
      maxConcurrency: 6,
      environment: {},
    },
    shipper: {
      entry: 'functions/shipper/handler.ts',
      description: 'Books a carrier and assigns a tracking number',
      trigger: kafkaTrigger('OrderPickedAndPacked'),
      produces: ['Notification', 'KPIs', 'DeadLetterQueue'],
      tables: { orders: 'readwrite', idempotency: 'readwrite' },
      memoryMb: 512,
      timeoutSeconds: 30,
      maxConcurrency: 6,
      environment: {},
    },
    notification: {
      entry: 'functions/notification/handler.ts',
      description: 'Delivers customer notifications, each exactly once',
      trigger: kafkaTrigger('Notification'),
      produces: ['KPIs', 'DeadLetterQueue'],
      tables: { notifications: 'readwrite', orders: 'read', idempotency: 'readwrite' },
      publishes: ['notifications'],
      memoryMb: 512,
      timeoutSeconds: 30,
      maxConcurrency: 6,
      environment: {},
    },
    kpis: {
      entry: 'functions/kpis/handler.ts',
      description: "Turns the steps' KPI records into the CloudWatch metrics of the dashboard and alarms",
      // Metrics are not on an order's path: a one-second window gathers many steps' records into one
      // invocation (a few invocations a second instead of one per step invocation).
      trigger: { ...kafkaTrigger('KPIs'), maximumBatchingWindowSeconds: 1 },
      // No KPIs: it would read its own records back (its dead letters are EMF metrics of its own).
      produces: ['DeadLetterQueue'],
      // idempotency: every consumer guards its dead letters with a Powertools record.
      tables: { idempotency: 'readwrite' },
      memoryMb: 512,
      timeoutSeconds: 30,
      maxConcurrency: 3,
      environment: {},
    },
    'outbox-sweeper': {
      entry: 'functions/outbox-sweeper/handler.ts',
      description:
        'Re-produces the OrderReceived (OrderCancelled) of orders left RECEIVED (CANCELLED) past a grace period',
      trigger: { kind: 'schedule', rateMinutes: 1 },
      produces: ['OrderReceived', 'OrderCancelled'],
      tables: { orders: 'readwrite' },
      memoryMb: 512,
      timeoutSeconds: 50,
      maxConcurrency: 1,
      environment: {
        // Longer than an order-api invocation may take (10 s) between its write and its produce.
        OUTBOX_GRACE_SECONDS: '30',
        OUTBOX_MAX_ATTEMPTS: '5',
        OUTBOX_MAX_ORDERS_PER_RUN: '500',
      },
    },
  },
} satisfies Manifest);

/** The defaults every consumer shares; a function may override any of them. */
function kafkaTrigger(topic: TopicName) {
  return {
    kind: 'kafka',
    topic,
    batchSize: 100,
    // 0: each batch is invoked as soon as its records arrive, as AWS's low-latency setup for Kafka has it
    // (provisioned mode + window 0, https://docs.aws.amazon.com/lambda/latest/dg/with-kafka-low-latency.html).
    // A larger window (`-c batchingWindowSeconds=N` on deploy) buys fuller batches: fewer invocations,
    // fewer KPI records and poller work per order, at up to N seconds per hop.
    maximumBatchingWindowSeconds: 0,
    startingPosition: 'TRIM_HORIZON',
    // The retries must outlast the function timeout: a record whose invocation died mid-batch (a crash,
    // a timeout) keeps its idempotency record IN_PROGRESS until that invocation's deadline, and retries
    // that run out before it would dead-letter a record that only needed waiting. Locally 8 retries
    // back off 0.5, 1, 2, 4, 8, 10, 10, 10 s (45 s) against a 30 s timeout.
    retryAttempts: 8,
    onFailure: 'DeadLetterQueue',
    // A record that crashes its invocation (timeout, out of memory, exit) ends alone on the dead-letter
    // topic instead of taking its batch's innocent records with it.
    bisectBatchOnFunctionError: true,
    // A transient failure of one record redoes its partition from that record, not the whole batch.
    reportBatchItemFailures: true,
    // -1: never skip a record for its age. Every step is idempotent and an order must not be dropped
    // because the pipeline was down for a while; retention (168 h) bounds what is left to catch up.
    maximumRecordAgeSeconds: -1,
    metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'],
    systemLogLevel: 'WARN',
  } as const;
}

export type FunctionName = keyof typeof manifest.functions;
export type TableName = keyof typeof manifest.tables;
export const functionNames = Object.keys(manifest.functions) as FunctionName[];
export const tableNames = Object.keys(manifest.tables) as TableName[];

/** The consumer group of a function: AWS and the local emulator use the same id. */
export const consumerGroupId = (fn: FunctionName): string => `order-pipeline-${fn}`;

/**
 * The physical name of a table. Locally it is the logical name with a prefix; on AWS, CloudFormation
 * names tables and passes the names to functions through `TABLE_<NAME>` environment variables.
 */
export const localTableName = (table: TableName, prefix = 'order-pipeline'): string => `${prefix}-${table}`;
export const tableEnvVar = (table: TableName): string => `TABLE_${table.toUpperCase()}`;

export type ChannelName = keyof typeof manifest.channels;
export const channelNames = Object.keys(manifest.channels) as ChannelName[];

/** Locally a channel's SNS topic is named like a table (`<prefix>-<channel>`); on AWS, CloudFormation names it. */
export const localTopicName = (channel: ChannelName, prefix = 'order-pipeline'): string =>
  `${prefix}-${channel}`;
/** The variable that hands a publisher its channel's topic ARN: `NOTIFICATIONS_TOPIC_ARN`. */
export const channelEnvVar = (channel: ChannelName): string =>
  `${channel.toUpperCase().replaceAll('-', '_')}_TOPIC_ARN`;
/** The channels a function publishes to (none for most). */
export const publishedChannels = (fn: FunctionName): ChannelName[] =>
  [...((manifest.functions[fn] as FunctionSpec).publishes ?? [])] as ChannelName[];
