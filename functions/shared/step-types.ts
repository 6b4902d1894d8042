import type { EncodedRecord } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { EventOf, TopicName } from '../../events/topics.ts';
import type { Kpi } from './kpis.ts';

// A step's contract with the consumer wrapper, in a module of its own: pure rules (`<step>/logic.ts`) build
// outcomes without importing the I/O wrapper (`consumer.ts`, with its Kafka, idempotency and tracing).

/** What a step did with one event: the events to produce and the KPIs to publish. */
export interface StepOutcome {
  orderId: string;
  events: EncodedRecord[];
  kpis: Kpi[];
  /**
   * True when the effect was already applied (an earlier attempt, or a redelivery): nothing new happened,
   * and the events, if any, are the ones produced before, with the same ids; the next step drops them.
   */
  replayed: boolean;
  /** A few words for the log line, e.g. `rejected: SKU-X out of stock`. No personal data. */
  summary: string;
  /**
   * Writes still finishing that neither this outcome nor its events depend on (bookkeeping after an
   * effect that already happened). The invocation produces while they finish and succeeds only once they
   * have; a failure is handled as if `process` had thrown it, and the order's next record waits for them.
   */
  settling?: Promise<unknown>;
}

/** The logging a step needs; every line it writes carries the record's order id and event id. */
export interface StepLogger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export interface StepContext {
  logger: StepLogger;
  now: Date;
}

/** One Kafka-triggered step: the topic it consumes and what it does with one event. */
export interface ConsumerStep<T extends TopicName> {
  name: StepName;
  topic: T;
  process(event: EventOf<T>, context: StepContext): Promise<StepOutcome>;
  /**
   * Where the step's own KPIs go: one KPIs record per invocation (the default; the `kpis` function turns
   * them into CloudWatch metrics), or, for the `kpis` function itself, which would read its record
   * back, straight to the invocation's EMF metrics.
   */
  ownKpis?: 'record' | 'metrics';
}
