import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EncodedRecord } from '../../events/codec.ts';
import { isPermanent } from '../shared/errors.ts';
import { OUTBOX_SHARDS, type UpdateParams } from '../shared/orders/model.ts';
import {
  type Decision,
  decide,
  decisionUpdate,
  errorReason,
  misplacedQuery,
  outboxQuery,
  type QueryParams,
  type Reproduce,
  readSweepConfig,
  type SweepConfig,
  shards,
} from './logic.ts';

/** What the sweep needs from DynamoDB and Kafka; the handler gives the real ones, unit tests fakes. */
export interface SweepPorts {
  query(params: QueryParams): Promise<{
    items: Record<string, unknown>[];
    scanned: number;
    lastKey?: Record<string, unknown>;
  }>;
  /** Applies a conditional update; false when its condition refused it. */
  update(params: UpdateParams): Promise<boolean>;
  produce(records: readonly EncodedRecord[]): Promise<void>;
}

export interface SweepLog {
  /** `topic`: the event re-produced, OrderReceived or OrderCancelled. */
  reproduced(orderId: string, attempt: number, topic: string): void;
  abandoned(orderId: string, reason: string): void;
  /** A transient failure of one row (or of a shard's read): left for the next run, the rest goes on. */
  failed(where: { shard: string; orderId?: string }, error: unknown): void;
}

export interface SweepSummary {
  /** Items read from the index (including those waiting for their next attempt). */
  scanned: number;
  reproduced: number;
  abandoned: number;
  /** Markers dropped from orders that were no longer RECEIVED. */
  cleared: number;
  /** Decisions refused by their condition: another writer moved the order on in between. */
  skipped: number;
  /** Rows (or shard reads) that failed transiently this run: the next run tries them again. */
  failed: number;
  /** True when the run stopped at its budget with items left. */
  truncated: boolean;
}

/** Items read per query page. */
const PAGE_SIZE = 100;
/**
 * Reads allowed per order acted on: items waiting for their next attempt sit in front of newer ones
 * (the index is ordered by placement), so a run reads past them, within this bound.
 */
const READS_PER_ACTION = 4;

/** One run's context: what every row's handling reports to. */
interface Run {
  ports: SweepPorts;
  tableName: string;
  now: Date;
  config: SweepConfig;
  log: SweepLog;
  summary: SweepSummary;
}

/**
 * One run over every shard. Each shard gets an equal share of the run's budget (orders acted on, and
 * reads), so a backlog in one shard never starves the others; within a shard the oldest orders go first.
 * The attempt is recorded before the produce: a crash in between costs an attempt, never a loop. Every
 * row stands alone: one that can never be swept is abandoned with its reason, one that fails transiently
 * is counted in `failed` and left for the next run, and the run goes on over every other row and shard.
 */
export async function sweep(
  ports: SweepPorts,
  tableName: string,
  now: Date,
  config: SweepConfig,
  log: SweepLog,
): Promise<SweepSummary> {
  const summary: SweepSummary = {
    scanned: 0,
    reproduced: 0,
    abandoned: 0,
    cleared: 0,
    skipped: 0,
    failed: 0,
    truncated: false,
  };
  const run: Run = { ports, tableName, now, config, log, summary };
  const actions = Math.max(1, Math.floor(config.maxOrdersPerRun / OUTBOX_SHARDS));
  for (const shard of shards()) {
    try {
      await sweepShard(run, shard, actions);
    } catch (error) {
      // The shard's read failed: the other shards go on, the next run reads this one again.
      summary.failed += 1;
      log.failed({ shard }, error);
    }
  }
  return summary;
}

/** One shard: first the rows that will never be due (abandoned), then the due ones, oldest first. */
async function sweepShard(run: Run, shard: string, actions: number): Promise<void> {
  const { ports, tableName, now, config, summary } = run;
  const reads = actions * READS_PER_ACTION;
  const misplaced = await ports.query(misplacedQuery(tableName, shard, now, Math.min(PAGE_SIZE, actions)));
  summary.scanned += misplaced.scanned;
  let read = misplaced.scanned;
  let { acted, more } = await actOnPage(run, shard, misplaced.items, actions);
  more ||= misplaced.lastKey !== undefined;
  let startKey: Record<string, unknown> | undefined;
  let first = true;
  while (first || startKey !== undefined) {
    if (acted >= actions || read >= reads) {
      more = true;
      break;
    }
    first = false;
    const limit = Math.min(PAGE_SIZE, reads - read);
    const page = await ports.query(outboxQuery(tableName, shard, now, config, limit, startKey));
    read += page.scanned;
    summary.scanned += page.scanned;
    startKey = page.lastKey;
    const done = await actOnPage(run, shard, page.items, actions - acted);
    acted += done.acted;
    more ||= done.more;
  }
  if (more) summary.truncated = true;
}

/** Decides and records each item of a page (at most `room` acted on), then produces what is due. */
async function actOnPage(
  run: Run,
  shard: string,
  items: readonly Record<string, unknown>[],
  room: number,
): Promise<{ acted: number; more: boolean }> {
  const due: Reproduce[] = [];
  let acted = 0;
  let more = false;
  for (const item of items) {
    if (acted >= room) {
      more = true;
      break;
    }
    const decision = decide(item, run.now, run.config);
    if (decision.action === 'wait') continue;
    acted += 1;
    if ((await apply(run, shard, decision)) && decision.action === 'reproduce') due.push(decision);
  }
  await produceDue(run, shard, due);
  return { acted, more };
}

/** Records a decision; true when it applied. A failure stays with its row. */
async function apply(
  run: Run,
  shard: string,
  decision: Exclude<Decision, { action: 'wait' }>,
): Promise<boolean> {
  const { summary, log } = run;
  let applied: boolean;
  try {
    applied = await run.ports.update(decisionUpdate(run.tableName, decision, run.now));
  } catch (error) {
    const minimal = decision.action === 'abandon' && decision.previous === undefined && !decision.status;
    if (!isPermanent(error) || minimal) {
      summary.failed += 1;
      log.failed({ shard, orderId: decision.orderId }, error);
      return false;
    }
    // DynamoDB refuses this row's write for good (no retry changes it): the row is abandoned instead,
    // on the one condition that it is still in the outbox.
    const reason = `the sweeper's ${decision.action} was refused: ${errorReason(error)}`;
    await apply(run, shard, {
      ...decision,
      action: 'abandon',
      previous: undefined,
      status: undefined,
      reason,
    });
    return false;
  }
  if (!applied) {
    summary.skipped += 1;
    return false;
  }
  if (decision.action === 'abandon') {
    summary.abandoned += 1;
    log.abandoned(decision.orderId, decision.reason);
  } else if (decision.action === 'clear') summary.cleared += 1;
  return true;
}

/**
 * Produces the re-produced events of a page, together. When the broker refuses the batch for good (a
 * record too large), each goes alone, so one record's refusal costs no other record its produce; that
 * order is abandoned. A transient refusal leaves them all to their next attempt (already recorded).
 */
async function produceDue(run: Run, shard: string, due: readonly Reproduce[]): Promise<void> {
  if (due.length === 0) return;
  try {
    await run.ports.produce(due.map((decision) => decision.record));
    for (const decision of due) reproduced(run, decision);
  } catch (error) {
    if (!isPermanent(error)) {
      run.summary.failed += due.length;
      for (const { orderId } of due) run.log.failed({ shard, orderId }, error);
      return;
    }
    for (const decision of due) await produceAlone(run, shard, decision);
  }
}

async function produceAlone(run: Run, shard: string, decision: Reproduce): Promise<void> {
  try {
    await run.ports.produce([decision.record]);
    reproduced(run, decision);
  } catch (error) {
    if (!isPermanent(error)) {
      run.summary.failed += 1;
      run.log.failed({ shard, orderId: decision.orderId }, error);
      return;
    }
    const { orderId, attempt: previous, status, record } = decision;
    const reason = `the broker refused its ${record.topic}: ${errorReason(error)}`;
    await apply(run, shard, { action: 'abandon', orderId, previous, status, reason });
  }
}

function reproduced(run: Run, decision: Reproduce): void {
  run.summary.reproduced += 1;
  run.log.reproduced(decision.orderId, decision.attempt, decision.record.topic);
}

/** What a sweep runs with: the handler's Powertools logger and metrics, and the orders table's ports. */
export interface OutboxSweepDeps {
  logger: Logger;
  metrics: Metrics;
  /** The orders table and its ports, resolved after the sweep's settings are read. */
  orders: () => { ports: SweepPorts; tableName: string };
}

/** What an error is, for the logs: its name and code only (messages could quote a row's content). */
const errorName = (error: unknown) => (error instanceof Error ? error.name : typeof error);

/** A run that left rows to the next one (transient failures): reported as a failed invocation, after it. */
export class OutboxSweepIncomplete extends Error {
  override readonly name = 'OutboxSweepIncomplete';
}

/** One sweep of the outbox, on the schedule's tick (EventBridge on AWS, a timer locally). */
export async function sweepOutbox(deps: OutboxSweepDeps, now = new Date()): Promise<SweepSummary> {
  const { logger, metrics } = deps;
  const config = readSweepConfig(process.env);
  const { ports, tableName } = deps.orders();
  const summary = await sweep(ports, tableName, now, config, {
    // Order ids only: nothing of the order's content reaches the logs.
    reproduced: (orderId, attempt, topic) =>
      logger.warn(`${topic} re-produced for an order still waiting past the grace period`, {
        orderId,
        attempt,
        topic,
      }),
    abandoned: (orderId, reason) =>
      logger.error('outbox: gave up on an order, it needs an operator', { orderId, reason }),
    failed: (where, error) =>
      logger.warn('outbox: a row failed, left to the next run', { ...where, error: errorName(error) }),
  });
  metrics.addMetric('OutboxReproduced', MetricUnit.Count, summary.reproduced);
  metrics.addMetric('OutboxAbandoned', MetricUnit.Count, summary.abandoned);
  metrics.addMetric('OutboxFailed', MetricUnit.Count, summary.failed);
  // A quiet sweep (the usual case, every minute) is a debug line; one that did something is info.
  const details = { ...summary, graceSeconds: config.graceMs / 1000 };
  const acted = summary.reproduced + summary.abandoned + summary.cleared + summary.skipped > 0;
  if (acted || summary.truncated) logger.info('outbox swept', details);
  else logger.debug('outbox swept', details);
  // Every other row was swept; the failed ones make the invocation fail (Lambda's Errors alarm).
  if (summary.failed > 0) {
    throw new OutboxSweepIncomplete(`outbox sweep left ${summary.failed} row(s) or shard(s) to the next run`);
  }
  return summary;
}
