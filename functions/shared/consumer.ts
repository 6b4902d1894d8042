import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, MSKEvent } from 'aws-lambda';
import { z } from 'zod';
import { type EncodedRecord, EventDecodeError, encode, Headers, issuesOf } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { EventOf, TopicName } from '../../events/topics.ts';
import { isPermanent } from './errors.ts';
import { idempotencyStore, RECORD_IDEMPOTENCY_SECONDS } from './idempotency.ts';
import { count, type Kpi, kpiRecords } from './kpis.ts';
import { onReset } from './lifecycle.ts';
import {
  classify,
  coordinates,
  deadLetterEvent,
  headerText,
  type RawRecord,
  recordsByPartition,
} from './msk-records.ts';
import { addKpiMetrics } from './observability.ts';

/** What a step did with one event: the events to produce and the KPIs to publish. */
export interface StepOutcome {
  orderId: string;
  events: EncodedRecord[];
  kpis: Kpi[];
  /**
   * True when an earlier attempt had already applied the effect (it crashed before recording its
   * completion): the same events are produced again, with the same ids, and consumers drop them.
   */
  replayed: boolean;
  /** A few words for the log line, e.g. `rejected: SKU-X out of stock`. No personal data. */
  summary: string;
}

/** The logging a step needs; every line it writes carries the record's order id and event id. */
export interface StepLogger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/**
 * A logger whose lines carry `keys`. Not a Powertools child logger: records of several partitions are
 * processed concurrently, and a child reports a cold start on its first line, i.e. for every record.
 */
export function withKeys(logger: Logger, keys: Record<string, string>): StepLogger {
  return {
    debug: (message, attributes) => logger.debug(message, { ...keys, ...attributes }),
    info: (message, attributes) => logger.info(message, { ...keys, ...attributes }),
    warn: (message, attributes) => logger.warn(message, { ...keys, ...attributes }),
    error: (message, attributes) => logger.error(message, { ...keys, ...attributes }),
  };
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
}

export interface ConsumerDeps {
  produce(records: readonly EncodedRecord[]): Promise<void>;
  persistenceStore: BasePersistenceLayer;
  /**
   * An idempotency store of its own for dead letters (a Powertools persistence layer serves one idempotent
   * function: it keeps the key prefix of the last one that used it). When given, a record's dead letter is
   * produced once even when its batch is retried; without it, once per attempt, always with the same id.
   */
  deadLetterStore?: BasePersistenceLayer;
  now?: () => Date;
}

export interface BatchReport {
  /** Records whose effect was applied by this invocation (including replays after a crash). */
  processed: number;
  /** Records already processed by an earlier invocation: skipped by the idempotency layer. */
  duplicates: number;
  deadLettered: number;
}

type RecordResult = keyof BatchReport;

const asNamedError = (error: unknown): { name: string; message: string } => {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : '',
  };
};

/** What is wrong with a record, by kind and path only: schema messages may quote values. */
export function safeDecodeReason(error: EventDecodeError): string {
  const paths = [...new Set(error.issues.map((issue) => issue.path).filter((path) => path.length > 0))];
  return paths.length > 0 ? `${error.kind} at ${paths.slice(0, 10).join(', ')}` : error.kind;
}

/**
 * An error's reason for a log line: a decode or schema failure by its paths only (JSON.parse and zod quote
 * the bytes they refuse, which may be personal data), anything else by the start of its message.
 */
export function safeReason(error: unknown): string {
  if (error instanceof EventDecodeError) return safeDecodeReason(error);
  if (error instanceof z.ZodError) return safeDecodeReason(new EventDecodeError('schema', issuesOf(error)));
  return asNamedError(error).message.slice(0, 300);
}

interface Run {
  outcome?: StepOutcome;
}

/**
 * Builds the batch processor of a step. For each record, in partition order:
 * decode → poison (too large, not JSON, fails its schema) goes to DeadLetterQueue, the batch goes on; an
 * event is processed under Powertools idempotency keyed by its `eventId` (the effect and its produces
 * happen at most once per event id); a failure that can never succeed ({@link isPermanent}) dead-letters
 * the event at once and the batch goes on; any other failure throws, so the event source mapping retries
 * the batch, and the retry skips what was done. So a batch's good records are processed exactly once,
 * whatever their neighbours on the partition are. With `deps.deadLetterStore`, a dead letter is produced
 * once too (idempotent on its id, which derives from the record's coordinates): a retried batch does not
 * repeat it.
 */
export function batchProcessor<T extends TopicName>(
  step: ConsumerStep<T>,
  options: { logger: Logger; metrics: Metrics; deps: ConsumerDeps },
) {
  const { logger, metrics, deps } = options;
  const now = deps.now ?? (() => new Date());
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'eventId',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: RECORD_IDEMPOTENCY_SECONDS,
  });
  const deadLetterConfig = new IdempotencyConfig({
    eventKeyJmesPath: 'eventId',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: RECORD_IDEMPOTENCY_SECONDS,
  });

  // `run` is not hashed (only the event is, argument 0): it carries the outcome out of a fresh
  // execution, which tells it apart from a duplicate answered from the idempotency store.
  const processOnce = makeIdempotent(
    async (event: EventOf<T>, run: Run & { logger: StepLogger }) => {
      const at = now();
      const outcome = await step.process(event, { logger: run.logger, now: at });
      const kpis = kpiRecords(
        step.name,
        { causationId: event.eventId, orderId: outcome.orderId },
        outcome.kpis,
        at,
      );
      await deps.produce([...outcome.events, ...kpis]);
      run.outcome = outcome;
      return {
        orderId: outcome.orderId,
        produced: outcome.events.map((record) => record.headers[Headers.eventId] ?? ''),
      };
    },
    {
      persistenceStore: deps.persistenceStore,
      config,
      keyPrefix: `order-pipeline.${step.name}.record`,
    },
  );

  const produceDeadLetter = async (event: EventOf<'DeadLetterQueue'>, at: Date) => {
    const kpis = [count('RecordsDeadLettered')];
    await deps.produce([
      encode('DeadLetterQueue', event),
      ...kpiRecords(step.name, { causationId: event.eventId, orderId: undefined }, kpis, at),
    ]);
    addKpiMetrics(metrics, kpis);
    return { deadLetterEventId: event.eventId };
  };
  const produceDeadLetterOnce = deps.deadLetterStore
    ? makeIdempotent(produceDeadLetter, {
        persistenceStore: deps.deadLetterStore,
        config: deadLetterConfig,
        keyPrefix: `order-pipeline.${step.name}.dead-letter`,
      })
    : produceDeadLetter;

  async function deadLetter(record: RawRecord, error: unknown, correlationId?: string): Promise<void> {
    const at = now();
    const named = asNamedError(error);
    const event = deadLetterEvent({
      step: step.name,
      record,
      reason: 'poison',
      error: named,
      attempts: 1,
      correlationId,
      now: at,
    });
    await produceDeadLetterOnce(event, at);
    logger.warn('record dead-lettered', {
      record: coordinates(record),
      eventId: headerText(record, Headers.eventId)?.slice(0, 128),
      deadLetterEventId: event.eventId,
      error: named.name,
      reason: safeReason(error),
    });
  }

  async function processRecord(record: RawRecord): Promise<RecordResult> {
    const classified = classify(step.topic, record);
    if (classified.kind === 'poison') {
      await deadLetter(record, classified.error);
      return 'deadLettered';
    }
    const { event } = classified;
    const recordLogger = withKeys(logger, {
      correlation_id: event.correlationId,
      eventId: event.eventId,
      record: coordinates(record),
    });
    const run: Run & { logger: StepLogger } = { logger: recordLogger };
    try {
      await processOnce(event, run);
    } catch (error) {
      if (isPermanent(error)) {
        const failure = asNamedError(error);
        recordLogger.error('event can never be processed', {
          error: failure.name,
          reason: safeReason(error),
        });
        await deadLetter(record, error, event.correlationId);
        return 'deadLettered';
      }
      recordLogger.error('transient failure, the batch will be retried', { error: error as Error });
      throw error;
    }
    if (!run.outcome) {
      recordLogger.info('duplicate event skipped');
      return 'duplicates';
    }
    const { outcome } = run;
    // A replay's metrics were published by the attempt that applied the effect.
    if (!outcome.replayed) addKpiMetrics(metrics, outcome.kpis);
    recordLogger.info(outcome.replayed ? 'effect already applied, events re-produced' : 'event processed', {
      summary: outcome.summary,
      produced: outcome.events.map((r) => `${r.topic}:${r.headers[Headers.eventId]}`),
    });
    return 'processed';
  }

  return async function processBatch(
    event: Pick<MSKEvent, 'records'>,
    context?: Context,
  ): Promise<BatchReport> {
    if (context) {
      config.registerLambdaContext(context);
      deadLetterConfig.registerLambdaContext(context);
    }
    const report: BatchReport = { processed: 0, duplicates: 0, deadLettered: 0 };
    const partitions = recordsByPartition(event);
    const results = await Promise.allSettled(
      partitions.map(async (records) => {
        for (const record of records) report[await processRecord(record)] += 1;
      }),
    );
    // Every partition runs to its end or its first failure before the batch fails: work done is recorded
    // as done, so the retry has less to do.
    const failure = results.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    logger.info('batch done', { ...report, partitions: partitions.length });
    return report;
  };
}

/**
 * The Lambda handler of a Kafka-triggered step, with the Powertools middlewares: structured logs with the
 * Lambda context and cold-start flag, and EMF metrics flushed at the end of each invocation. `setup` runs
 * on the first invocation, so that importing the module needs no environment.
 */
export function kafkaConsumerHandler<T extends TopicName>(options: {
  logger: Logger;
  metrics: Metrics;
  setup: () => { step: ConsumerStep<T>; deps: ConsumerDeps };
}) {
  let processBatch: ReturnType<typeof batchProcessor<T>> | undefined;
  onReset(() => {
    processBatch = undefined;
  });
  return middy(async (event: MSKEvent, context: Context): Promise<BatchReport> => {
    if (!processBatch) {
      const { step, deps } = options.setup();
      processBatch = batchProcessor(step, {
        logger: options.logger,
        metrics: options.metrics,
        deps: { ...deps, deadLetterStore: deps.deadLetterStore ?? idempotencyStore() },
      });
    }
    return processBatch(event, context);
  })
    .use(injectLambdaContext(options.logger, { resetKeys: true }))
    .use(logMetrics(options.metrics, { captureColdStartMetric: true }));
}
