import type { TopicName } from '../events/topics.ts';

export interface TopicSpec {
  partitions: number;
  retentionHours: number;
  /** What the record key holds; every topic is keyed by order id so one order stays on one partition. */
  key: 'orderId';
}

export interface KeySpec {
  name: string;
  type: 'S' | 'N';
}

/** A global secondary index. Sparse when its keys are attributes only some items carry. */
export interface IndexSpec {
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  /** `all`: the index holds whole items (readers need no second read); `keys-only`: the keys. */
  projection: 'all' | 'keys-only';
}

export interface TableSpec {
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  ttlAttribute?: string;
  /** Global secondary indexes, by index name. */
  indexes?: Readonly<Record<string, IndexSpec>>;
}

/** One API Gateway resource and method; `{name}` segments are path parameters. */
export interface HttpRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  resource: string;
  /** `iam`: SigV4-signed callers only; `none`: open (a liveness probe, nothing else). */
  auth: 'iam' | 'none';
}

export interface HttpTrigger {
  kind: 'http';
  routes: readonly HttpRoute[];
}

/** Mirrors the settings of a Lambda MSK event source mapping. */
export interface KafkaTrigger {
  kind: 'kafka';
  topic: TopicName;
  /** 1..10000 records per invocation. */
  batchSize: number;
  /** 0..300 seconds, as MaximumBatchingWindowInSeconds. */
  maximumBatchingWindowSeconds: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** Retries of a failing batch before it goes to `onFailure`. */
  retryAttempts: number;
  onFailure: TopicName;
  /**
   * BisectBatchOnFunctionError: an invocation that fails as a whole (a thrown error, a timeout, a crash,
   * out of memory) is split in two and each half retried, so a record that crashes its consumer ends alone.
   */
  bisectBatchOnFunctionError: boolean;
  /**
   * FunctionResponseTypes [ReportBatchItemFailures]: the function answers `batchItemFailures` and the
   * mapping resumes each partition from its first failed record instead of redoing the batch.
   */
  reportBatchItemFailures: boolean;
  /** MaximumRecordAgeInSeconds: -1 (never) or 60..604800; older records go to `onFailure` unprocessed. */
  maximumRecordAgeSeconds: number;
  /** The mapping's CloudWatch metrics (MetricsConfig). */
  metrics: readonly ('EventCount' | 'ErrorCount' | 'KafkaMetrics')[];
  /** The mapping's own system logs (LoggingConfig.SystemLogLevel). */
  systemLogLevel: 'DEBUG' | 'INFO' | 'WARN';
}

/** Invoked on a timer: an EventBridge schedule on AWS, a timer in the local runtime. */
export interface ScheduleTrigger {
  kind: 'schedule';
  /** Every so many minutes (EventBridge `rate()`: 1 minute at the finest). */
  rateMinutes: number;
}

export type Access = 'read' | 'readwrite';

export interface FunctionSpec {
  /** The handler module, relative to the project root; it exports `handler`. */
  entry: string;
  description: string;
  trigger: HttpTrigger | KafkaTrigger | ScheduleTrigger;
  produces: readonly TopicName[];
  tables: Readonly<Record<string, Access>>;
  memoryMb: number;
  timeoutSeconds: number;
  /**
   * The most execution environments the local runtime runs for it at once (one per partition lane for a
   * mapping, one per request in flight for the API). Not deployed as reserved concurrency: that would
   * take from the account's pool (and fail on accounts below 100 unreserved); on AWS a Kafka mapping is
   * bounded by its partitions, the API by its stage throttling.
   */
  maxConcurrency: number;
  environment: Readonly<Record<string, string>>;
  /** The channels it publishes to (an SNS topic each): it gets the topic's ARN and may publish only there. */
  publishes?: readonly string[];
}

/** A channel to the outside: an SNS topic (KMS-encrypted on AWS, moto's SNS locally) that subscribers filter. */
export interface ChannelSpec {
  kind: 'sns';
  /** The topic's display name (an e-mail subscription's sender name). */
  displayName: string;
}

export interface Manifest {
  topics: Readonly<Record<TopicName, TopicSpec>>;
  tables: Readonly<Record<string, TableSpec>>;
  functions: Readonly<Record<string, FunctionSpec>>;
  channels: Readonly<Record<string, ChannelSpec>>;
}
