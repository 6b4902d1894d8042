/** The messages between a bench/chaos run and the child process that runs the functions (or the baseline hops). */
import type { FaultCounters, FaultProfileInput } from '../../local/faults/profile.ts';
import type { UnitsByTable } from './capacity.ts';

export interface ChildConfig {
  mode: 'pipeline' | 'baseline';
  runId: string;
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  snsEndpoint: string;
  tablePrefix: string;
  /** API emulator port (pipeline); 0 picks a free one. */
  apiPort: number;
  /** Baseline: the topics of the chain, `hops + 1` of them. */
  baselineTopics?: string[];
  /** Pipeline: the runtime's `handlerWrapper` (chaos crash-poison: records that crash their consumer). */
  handlerWrapper?: string;
  /** Pipeline: the runtime's fault layer (local/faults/) in front of DynamoDB and SNS, with this profile. */
  faults?: FaultProfileInput;
}

export interface FunctionCounters {
  memoryMb: number;
  invocations: number;
  failedInvocations: number;
  /** Kafka records handed to the function (sum of batch sizes), or HTTP requests for order-api. */
  records: number;
  /** Billed Duration of every invocation's REPORT (rounded up to the ms, a cold start's init included). */
  billedMs: number;
  /** Invocations that started an environment, and their Init Durations (ms, part of `billedMs`). */
  coldStarts: number;
  initMs: number;
}

/** Records produced to a topic, and their key + value + header bytes as the producer was given them. */
export type KafkaCounters = { records: number; bytes: number };

export interface ChildStats {
  functions: Record<string, FunctionCounters>;
  /** What the functions (and, in the baseline, the hops) produced, per topic. */
  produced: Record<string, KafkaCounters>;
  /** Request units per physical table name. */
  dynamodb: UnitsByTable;
  /** The ESM emulators' own counters, per function. */
  emulators: Record<
    string,
    { invocations: number; failedInvocations: number; recordsSentToOnFailure: number; bisects?: number }
  >;
  /** Each function's execution environments: ended by a crash, out of memory or a timeout, and started. */
  environments?: Record<string, { environmentsLost: number; coldStarts: number }>;
  /** Invocations running when the stats were taken, per function (a gauge, not a counter). */
  inFlight: Record<string, number>;
  /** Messages the functions published to SNS (absent from children that do not count them). */
  sns?: { publishes: number };
  faults?: FaultCounters;
}

/** What ./environment-probe.ts posts from an execution environment: counts since its previous post. */
export type ProbeTelemetry = Pick<ChildStats, 'produced' | 'dynamodb'> & { snsPublishes: number };

/** An order's journey ended (`kind`: the final notification delivered), at `at` (epoch ms, fractional). */
export interface Completion {
  orderId: string;
  kind: 'order-shipped' | 'order-rejected' | 'order-cancelled' | 'baseline';
  at: number;
}

export type ChildMessage =
  | { type: 'ready'; apiUrl: string | undefined; pid: number }
  | { type: 'completed'; completions: Completion[] }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'failed'; error: string };

export type ParentMessage = { type: 'stats' } | { type: 'stop' };

/** A wall-clock timestamp with sub-millisecond resolution, comparable across processes of one machine. */
export const now = (): number => performance.timeOrigin + performance.now();
