import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, MSKEvent } from 'aws-lambda';
import * as z from 'zod';
import { type EncodedRecord, EventDecodeError, encode, Headers, issuesOf } from '../../events/codec.ts';
import type { EventOf, TopicName } from '../../events/topics.ts';
import { type DeadLetterTopic, deadLetterTopicOf, kafkaTriggerOf } from '../../topology/topics.ts';
import { isPermanent } from './errors.ts';
import { idempotencyStore, RECORD_IDEMPOTENCY_SECONDS, registerInvocation } from './idempotency.ts';
import { count, kpiRecord, type MeasuredOrder } from './kpis.ts';
import { onReset } from './lifecycle.ts';
import {
  classify,
  coordinates,
  deadLetterEvent,
  headerText,
  type RawRecord,
  recordsByPartition,
} from './msk-records.ts';
import { addKpiMetrics, flushMetrics } from './observability.ts';
import type { ConsumerStep, StepLogger, StepOutcome } from './step-types.ts';
import { TRACE_HEADER } from './trace-header.ts';
import { traceRecord, tracer, withTraceHeader } from './tracing.ts';

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

export interface ConsumerDeps {
  produce(records: readonly EncodedRecord[]): Promise<void>;
  /**
   * An idempotency store of its own for dead letters (a Powertools persistence layer serves one idempotent
   * function: it keeps the key prefix of the last one that used it). When given, a record's dead letter is
   * produced once even when its batch is retried; without it, once per attempt, always with the same id.
   */
  deadLetterStore?: BasePersistenceLayer;
  now?: () => Date;
}

export interface BatchReport {
  /** Records whose effect this invocation applied. */
  processed: number;
  /** Records whose effect was already applied (a redelivery, a retry): re-announced or nothing to do. */
  duplicates: number;
  deadLettered: number;
  /** With `reportBatchItemFailures`: per partition, the record the mapping must redo the partition from. */
  batchItemFailures?: KafkaBatchItemFailure[];
}

/**
 * One entry of a Kafka partial batch response: the partition (the event's records key,
 * `"<topic>-<partition>"`) and the offset of its first record to redo. The shape of AWS's Powertools for
 * Python (its Kafka batch support); the mapping redoes each named partition from the lowest offset named
 * and commits the others (Lambda's "Configuring error handling controls for Kafka event sources").
 */
export interface KafkaBatchItemFailure {
  itemIdentifier: { partition: string; offset: number };
}

/** What a handler answers the mapping with ReportBatchItemFailures on: exactly AWS's response shape. */
export interface KafkaBatchResponse {
  batchItemFailures: KafkaBatchItemFailure[];
}

/** A record whose processing failed transiently: the mapping must redo its partition from it. */
class UnfinishedRecord extends Error {
  constructor(
    readonly record: RawRecord,
    override readonly cause: unknown,
  ) {
    super('record not finished');
  }
}

const unwrap = (error: unknown) => (error instanceof UnfinishedRecord ? error.cause : error);

/** Per partition, its lowest offset among `records`: where the mapping resumes it (the checkpoint rule). */
export function itemFailures(records: readonly RawRecord[]): KafkaBatchItemFailure[] {
  const first = new Map<string, bigint>();
  for (const { topic, partition, offset } of records) {
    const key = `${topic}-${partition}`;
    const at = BigInt(offset);
    const known = first.get(key);
    if (known === undefined || at < known) first.set(key, at);
  }
  return [...first].map(([partition, offset]) => ({ itemIdentifier: { partition, offset: Number(offset) } }));
}

/** Whether a function's mapping processes partial batch responses (its manifest trigger says so). */
export function reportsBatchItemFailures(name: string): boolean {
  return kafkaTriggerOf(name)?.reportBatchItemFailures ?? false;
}

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

/** Records of one order at a time, several orders at once: the most a batch runs concurrently. */
export const MAX_CONCURRENT_ORDERS = 32;

/** A partition's records, one list per record key (order id) in offset order. */
function byKey(records: readonly RawRecord[]): RawRecord[][] {
  const groups = new Map<string | null, RawRecord[]>();
  for (const record of records) {
    const group = groups.get(record.key) ?? [];
    group.push(record);
    groups.set(record.key, group);
  }
  return [...groups.values()];
}

/** Runs `tasks` with at most `limit` at a time; settles like Promise.allSettled. */
async function settleAll(tasks: readonly (() => Promise<void>)[], limit: number) {
  const results: PromiseSettledResult<void>[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<void>;
      results.push(
        await task().then(
          () => ({ status: 'fulfilled' as const, value: undefined }),
          (reason: unknown) => ({ status: 'rejected' as const, reason }),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** A record the step finished: its outcome, and whether it applied the effect or found it applied. */
interface Done {
  kind: 'processed' | 'duplicates';
  record: RawRecord;
  outcome: StepOutcome;
}

/** What became of one record (the batch processor's result per record; the report is a fold over them). */
type RecordResult = Done | { kind: 'deadLettered'; record: RawRecord };

const deadLettered = (record: RawRecord): RecordResult => ({ kind: 'deadLettered', record });

/** Counts one record's result into the report. */
const tally = (report: BatchReport, result: RecordResult): BatchReport => ({
  ...report,
  [result.kind]: report[result.kind] + 1,
});

/**
 * The batch's records as they are processed: each record's result, with its remaining writes' verdict
 * (`settled`: the result once they are done, rejected while unfinished), and those still settling.
 */
interface Processing {
  entries: { result: RecordResult; settled: Promise<RecordResult> }[];
  settling: Promise<RecordResult>[];
}

/** What a batch processor runs with. */
export interface BatchProcessorOptions {
  logger: Logger;
  metrics: Metrics;
  deps: ConsumerDeps;
  /**
   * The mapping has ReportBatchItemFailures on: a transient failure is reported in the report's
   * `batchItemFailures` (its partition is redone from it) instead of thrown. Only when the mapping has it:
   * a mapping without it ignores the response, and the failed records would count as done.
   */
  reportBatchItemFailures?: boolean;
}

/**
 * Builds the batch processor of a step. Within a partition, one order's records run in offset order and
 * different orders' records concurrently (Kafka orders records only per partition, and records are keyed
 * by order id). For each record: poison (too large, not JSON, fails its schema) goes to the step's
 * on-failure topic (its manifest trigger's `onFailure`) and the batch goes on; an event goes to the step,
 * whose conditional writes on the order's state and
 * deterministic output ids make a redelivery or retry harmless (no Powertools idempotency record per
 * event: that would guard effects already guarded, at two DynamoDB writes each); a failure that can
 * never succeed ({@link isPermanent}) dead-letters the event and the batch goes on; any other failure
 * throws, so the event source mapping retries the batch and the retry finds done what was done.
 *
 * What the records produce is sent together, once per invocation, with one KPIs record for the whole
 * invocation. With `deps.deadLetterStore`, a dead letter is produced once even when its batch is retried.
 */
export function batchProcessor<T extends TopicName>(step: ConsumerStep<T>, options: BatchProcessorOptions) {
  const processor = new KafkaBatchProcessor(step, options);
  return (event: Pick<MSKEvent, 'records'>, context?: Context): Promise<BatchReport> =>
    processor.process(event, context);
}

/**
 * The batch processor of one step, in the image of Powertools' `BatchProcessor`: each record yields a result
 * (`processRecord`, then its remaining writes and its events' send), and the report is a fold over them.
 */
class KafkaBatchProcessor<T extends TopicName> {
  private readonly step: ConsumerStep<T>;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private readonly deps: ConsumerDeps;
  private readonly reportItems: boolean;
  private readonly now: () => Date;
  private readonly deadLetterConfig = new IdempotencyConfig({
    eventKeyJmesPath: 'eventId',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: RECORD_IDEMPOTENCY_SECONDS,
  });
  /** Where the event source mapping sends what exhausts its retries: one place for both kinds of letter. */
  private readonly deadLetterTopic: DeadLetterTopic;
  private readonly produceDeadLetterOnce: (event: EventOf<DeadLetterTopic>) => Promise<unknown>;

  constructor(step: ConsumerStep<T>, options: BatchProcessorOptions) {
    const { deps } = options;
    this.step = step;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.deps = deps;
    this.reportItems = options.reportBatchItemFailures === true;
    this.now = deps.now ?? (() => new Date());
    this.deadLetterTopic = deadLetterTopicOf(step.name);
    const produceDeadLetter = async (event: EventOf<DeadLetterTopic>) => {
      await deps.produce([encode(this.deadLetterTopic, event)]);
      return { deadLetterEventId: event.eventId };
    };
    this.produceDeadLetterOnce = deps.deadLetterStore
      ? makeIdempotent(produceDeadLetter, {
          persistenceStore: deps.deadLetterStore,
          config: this.deadLetterConfig,
          keyPrefix: `order-pipeline.${step.name}.dead-letter`,
        })
      : produceDeadLetter;
  }

  async process(event: Pick<MSKEvent, 'records'>, context?: Context): Promise<BatchReport> {
    if (context) registerInvocation(this.deadLetterConfig, context);
    const invokedAtMs = Date.now();
    const partitions = recordsByPartition(event);
    const processing: Processing = { entries: [], settling: [] };
    const tasks = partitions
      .flatMap(byKey)
      .map((records) => () => this.processOrder(records, invokedAtMs, processing));
    const orders = await settleAll(tasks, MAX_CONCURRENT_ORDERS);
    const results = processing.entries.map(({ result }) => result);
    const done = results.filter((result): result is Done => result.kind !== 'deadLettered');

    // Everything the records produced, once, with the invocation's KPIs. Sent even when a record failed:
    // done work is announced, the retry has less to do. The records' remaining writes finish meanwhile;
    // the invocation waits for both, whatever fails.
    const first = partitions[0]?.[0];
    const kpis = this.invocationKpis(
      results,
      first ? `${this.step.name}|${coordinates(first)}` : this.step.name,
    );
    const [sent, ...settled] = await Promise.allSettled([
      this.produceAll(done, kpis),
      ...processing.settling,
    ]);
    const failures = [sent, ...settled, ...orders].flatMap((result) =>
      result.status === 'rejected' ? [result.reason as unknown] : [],
    );
    // Each record as it ended: its remaining writes' verdict (a transient failure there leaves its
    // result as it was, the record unfinished), then whether its events could be written at all.
    const dropped = sent.status === 'fulfilled' ? sent.value : new Set<RawRecord>();
    const ended = await Promise.all(
      processing.entries.map(({ result, settled }) => settled.catch(() => result)),
    );
    const report = this.reportOf(
      ended.map((result) => (dropped.has(result.record) ? deadLettered(result.record) : result)),
      failures,
      done,
    );
    // Debug: every invocation's counts are on the KPIs stream and in Lambda's REPORT line already; at INFO
    // this line was almost half of what a happy order writes to CloudWatch Logs.
    this.logger.debug('batch done', { ...report, partitions: partitions.length });
    if (report.batchItemFailures?.length)
      this.logger.warn('partitions to be redone', {
        from: report.batchItemFailures.map(({ itemIdentifier: id }) => `${id.partition}@${id.offset}`),
      });
    return report;
  }

  private async deadLetter(record: RawRecord, error: unknown, correlationId?: string): Promise<void> {
    const named = asNamedError(error);
    const event = deadLetterEvent({
      step: this.step.name,
      record,
      reason: 'poison',
      error: named,
      attempts: 1,
      correlationId,
      now: this.now(),
    });
    await this.produceDeadLetterOnce(event);
    this.logger.warn('record dead-lettered', {
      record: coordinates(record),
      eventId: headerText(record, Headers.eventId)?.slice(0, 128),
      deadLetterEventId: event.eventId,
      error: named.name,
      reason: safeReason(error),
    });
  }

  /** A failed event: dead-lettered when it can never succeed, else thrown, so the batch is retried. */
  private async failed(record: RawRecord, error: unknown, recordLogger: StepLogger, correlationId: string) {
    if (!isPermanent(error)) {
      recordLogger.error(
        this.reportItems
          ? 'transient failure, its partition will be redone from this record'
          : 'transient failure, the batch will be retried',
        { error: error as Error },
      );
      throw error;
    }
    recordLogger.error('event can never be processed', {
      error: asNamedError(error).name,
      reason: safeReason(error),
    });
    await this.deadLetter(record, error, correlationId);
  }

  /**
   * Waits for an outcome's remaining writes: the record's result once they are done, dead-lettered when
   * they can never succeed; one that fails for now rejects (the record is unfinished).
   */
  private async settle(done: Done): Promise<RecordResult> {
    const { record, outcome } = done;
    try {
      await outcome.settling;
      return done;
    } catch (error) {
      const recordLogger = withKeys(this.logger, {
        correlation_id: outcome.orderId,
        record: coordinates(record),
      });
      await this.failed(record, error, recordLogger, outcome.orderId).catch((unfinished: unknown) => {
        throw new UnfinishedRecord(record, unfinished);
      });
      return deadLettered(record);
    }
  }

  /** Runs the step on one event, inside the record's hop of its order's trace. */
  private async runStep(event: EventOf<T>, record: RawRecord, recordLogger: StepLogger, invokedAtMs: number) {
    const run = () => this.step.process(event, { logger: recordLogger, now: this.now() });
    // One hop of the order's trace; what it produces carries the hop's trace header. A KPIs record is
    // keyed by its step and measures an invocation: it is no hop of an order.
    if (this.step.topic === 'KPIs') return run();
    const traced = { orderId: event.correlationId, invokedAtMs, producedAtMs: record.timestamp };
    return traceRecord(this.step.name, { ...traced, traceHeader: headerText(record, TRACE_HEADER) }, (hop) =>
      run().then((done) => ({ ...done, events: withTraceHeader(done.events, hop) })),
    );
  }

  /** One record's result; rejects when it failed for now (the batch is retried, or its partition redone). */
  private async processRecord(record: RawRecord, invokedAtMs: number): Promise<RecordResult> {
    const classified = classify(this.step.topic, record);
    if (classified.kind === 'poison') {
      await this.deadLetter(record, classified.error);
      return deadLettered(record);
    }
    const { event } = classified;
    const recordLogger = withKeys(this.logger, {
      correlation_id: event.correlationId,
      eventId: event.eventId,
      record: coordinates(record),
    });
    let outcome: StepOutcome;
    try {
      outcome = await this.runStep(event, record, recordLogger, invokedAtMs);
    } catch (error) {
      await this.failed(record, error, recordLogger, event.correlationId);
      return deadLettered(record);
    }
    recordLogger.debug(outcome.replayed ? 'effect already applied' : 'event processed', {
      summary: outcome.summary,
      produced: outcome.events.map((r) => `${r.topic}:${r.headers[Headers.eventId]}`),
    });
    return { kind: outcome.replayed ? 'duplicates' : 'processed', record, outcome };
  }

  /**
   * One order's records in offset order, each into `into`: the next starts once the last one's remaining
   * writes are done. A record that fails for now stops its order here (its later records are not started).
   */
  private async processOrder(records: readonly RawRecord[], invokedAtMs: number, into: Processing) {
    let previous: Promise<RecordResult> | undefined;
    for (const record of records) {
      await previous;
      const result = await this.processRecord(record, invokedAtMs).catch((error: unknown) => {
        throw new UnfinishedRecord(record, error);
      });
      const settled =
        result.kind !== 'deadLettered' && result.outcome.settling ? this.settle(result) : undefined;
      into.entries.push({ result, settled: settled ?? Promise.resolve(result) });
      if (settled) {
        // Awaited with the production (or by this order's next record).
        settled.catch(() => undefined);
        into.settling.push(settled);
        previous = settled;
      }
    }
  }

  /** `records` less those already in `seen` (a redelivered record re-produces the same ids). */
  private unique(records: readonly EncodedRecord[], seen: Set<string>) {
    return records.filter((record) => {
      const id = `${record.topic}|${record.headers[Headers.eventId]}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  /**
   * One send for the whole invocation. If the broker refuses it for good (a record too large, say), each
   * record's events are sent alone, so that only the record whose output can never be written is
   * dead-lettered; the KPIs record, a measurement, is then dropped with a warning rather than block.
   * Answers the records dead-lettered here.
   */
  private async produceAll(done: readonly Done[], kpis: EncodedRecord | undefined): Promise<Set<RawRecord>> {
    const all = done.flatMap(({ outcome }) => outcome.events);
    try {
      const events = this.unique(all, new Set());
      await this.deps.produce(kpis ? [...events, kpis] : events);
      return new Set();
    } catch (error) {
      if (!isPermanent(error)) throw error;
    }
    const dropped = await this.produceEach(done);
    if (kpis) {
      // The events are out: a measurement that cannot follow them is dropped, never a failed invocation.
      await this.deps.produce([kpis]).catch((error: unknown) => {
        this.logger.warn('KPIs record not produced, dropped', {
          error: asNamedError(error).name,
          reason: safeReason(error),
        });
      });
    }
    return dropped;
  }

  /** Each record's events alone: a record whose events are refused for good is dead-lettered. */
  private async produceEach(done: readonly Done[]): Promise<Set<RawRecord>> {
    const seen = new Set<string>();
    const dropped = new Set<RawRecord>();
    for (const { record, outcome } of done) {
      try {
        await this.deps.produce(this.unique(outcome.events, seen));
      } catch (error) {
        if (!isPermanent(error)) throw error;
        await this.deadLetter(record, error, outcome.orderId);
        dropped.add(record);
      }
    }
    return dropped;
  }

  /**
   * The invocation's KPIs: a KPIs record, or, for the kpis function, its EMF metrics. A measurement never
   * fails a step: whatever goes wrong building it is logged (kind and paths only) and the KPIs dropped.
   * KPIs once per effect: a replay's were measured by the attempt that applied it.
   */
  private invocationKpis(results: readonly RecordResult[], invocationId: string): EncodedRecord | undefined {
    const measured = results.flatMap((result): MeasuredOrder[] => {
      if (result.kind === 'deadLettered')
        return [{ orderId: undefined, kpis: [count('RecordsDeadLettered')] }];
      return result.outcome.replayed ? [] : [{ orderId: result.outcome.orderId, kpis: result.outcome.kpis }];
    });
    try {
      if (this.step.ownKpis !== 'metrics')
        return kpiRecord(this.step.name, invocationId, measured, this.now());
      addKpiMetrics(
        this.metrics,
        measured.flatMap((order) => order.kpis),
      );
    } catch (error) {
      this.logger.warn('KPIs could not be built, dropped', {
        error: asNamedError(error).name,
        reason: safeReason(error),
      });
    }
    return undefined;
  }

  /**
   * With ReportBatchItemFailures, the partitions to redo: from each record that failed transiently (its
   * order's later records were not started); a failure that belongs to no record (the invocation's one
   * send failed transiently) leaves every record whose events were not sent unfinished. Only when there is
   * no such record is the failure thrown (the mapping retries the invocation).
   */
  private unfinishedFrom(failures: readonly unknown[], done: readonly Done[]): KafkaBatchItemFailure[] {
    const records: RawRecord[] = [];
    for (const failure of failures) {
      if (failure instanceof UnfinishedRecord) {
        records.push(failure.record);
        continue;
      }
      const unsent = done.filter(({ outcome }) => outcome.events.length > 0).map(({ record }) => record);
      if (unsent.length === 0) throw failure;
      this.logger.error("the invocation's events could not be sent, their partitions will be redone", {
        error: asNamedError(failure).name,
        reason: safeReason(failure),
      });
      records.push(...unsent);
    }
    return itemFailures(records);
  }

  /** The report: the counts, a fold over the records' results, and the partitions to redo (or a throw). */
  private reportOf(results: readonly RecordResult[], failures: readonly unknown[], done: readonly Done[]) {
    const report = results.reduce(tally, { processed: 0, duplicates: 0, deadLettered: 0 });
    if (this.reportItems) return { ...report, batchItemFailures: this.unfinishedFrom(failures, done) };
    if (failures.length > 0) throw unwrap(failures[0]);
    return report;
  }
}

/**
 * The Lambda handler of a Kafka-triggered step, with the Powertools middlewares: the X-Ray segment of the
 * invocation (Tracer; each record a subsegment, `traceRecord`), structured logs with the Lambda context and
 * cold-start flag, and EMF metrics flushed at the end of each invocation. `setup` runs
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
  return middy(async (event: MSKEvent, context: Context): Promise<BatchReport | KafkaBatchResponse> => {
    if (!processBatch) {
      const { step, deps } = options.setup();
      processBatch = batchProcessor(step, {
        logger: options.logger,
        metrics: options.metrics,
        deps: { ...deps, deadLetterStore: deps.deadLetterStore ?? idempotencyStore() },
        reportBatchItemFailures: reportsBatchItemFailures(step.name),
      });
    }
    const report = await processBatch(event, context);
    // With ReportBatchItemFailures the answer is exactly AWS's shape (the counts are in the log line above).
    return report.batchItemFailures ? { batchItemFailures: report.batchItemFailures } : report;
  })
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(options.logger, { resetKeys: true }))
    .use(flushMetrics(options.metrics));
}
