/**
 * The counters of the process that runs the functions, fed from the outside of their execution
 * environments through the local runtime's hooks: nothing in functions/ or local/ knows about the bench.
 * - Lambda: invocations, Billed Duration (init included) and cold starts from each invocation's REPORT
 *   (`onReport`), as CloudWatch Logs would have them;
 * - records handed to each function, failed invocations, invocations in flight, and the orders whose
 *   final notification was delivered: around each invocation (`wrapInvoker`: event in, outcome out);
 * - Kafka produces, DynamoDB request units and SNS publishes: counted inside each environment by
 *   ./environment-probe.ts (preloaded) and added up here (`onTelemetry`).
 */
import type { MSKEvent } from 'aws-lambda';
import type { KafkaBatchResponse } from '../../functions/shared/consumer.ts';
import { billedDurationMs, type InvocationReport } from '../../local/runtime/environments/pool.ts';
import type { Invoker } from '../../local/runtime/lambda-context.ts';
import { type FunctionName, manifest } from '../../topology/manifest.ts';
import type { ChildStats, Completion, FunctionCounters, ProbeTelemetry } from './protocol.ts';
import { now } from './protocol.ts';

const newFunctionCounters = (): Record<string, FunctionCounters> =>
  Object.fromEntries(
    Object.entries(manifest.functions).map(([name, { memoryMb }]) => [
      name,
      { memoryMb, invocations: 0, failedInvocations: 0, records: 0, billedMs: 0, coldStarts: 0, initMs: 0 },
    ]),
  );

const recordCount = (event: unknown): number => {
  const records = (event as Partial<MSKEvent> | undefined)?.records;
  return records ? Object.values(records).reduce((n, batch) => n + batch.length, 0) : 1;
};

const finalKinds = new Set(['order-shipped', 'order-rejected', 'order-cancelled']);

/**
 * The orders whose final notification this (successful) notification invocation delivered: the final
 * notifications of the batch before, in each partition, the lowest offset its partial batch response reports
 * as failed. The mapping redoes a partition from that record on, so the records after it come again.
 */
export function finalNotifications(event: unknown, payload?: unknown): Completion[] {
  const at = now();
  const redoneFrom = new Map<string, number>();
  for (const { itemIdentifier: id } of (payload as Partial<KafkaBatchResponse> | null)?.batchItemFailures ??
    [])
    redoneFrom.set(id.partition, Math.min(Number(id.offset), redoneFrom.get(id.partition) ?? Infinity));
  const completions: Completion[] = [];
  for (const [partition, batch] of Object.entries((event as MSKEvent).records ?? {})) {
    for (const record of batch) {
      if (record.offset >= (redoneFrom.get(partition) ?? Infinity)) continue;
      try {
        const value = JSON.parse(Buffer.from(record.value, 'base64').toString('utf8')) as {
          data?: { kind?: string; orderId?: string };
        };
        const kind = value.data?.kind;
        if (kind && finalKinds.has(kind) && value.data?.orderId) {
          completions.push({ orderId: value.data.orderId, kind: kind as Completion['kind'], at });
        }
      } catch {
        // Poison records are not orders.
      }
    }
  }
  return completions;
}

type Counts = Record<string, Record<string, number>>;

function addInto(into: Counts, from: Counts): void {
  for (const [key, counts] of Object.entries(from)) {
    into[key] ??= {};
    const total = into[key];
    for (const [field, n] of Object.entries(counts)) total[field] = (total[field] ?? 0) + n;
  }
}

export class PipelineCounters {
  readonly functions = newFunctionCounters();
  readonly produced: ChildStats['produced'] = {};
  readonly dynamodb: ChildStats['dynamodb'] = {};
  readonly sns = { publishes: 0 };
  readonly inFlight: Record<string, number> = {};

  /** `onCompleted` gets the orders each successful notification invocation finished. */
  constructor(private readonly onCompleted: (completions: Completion[]) => void) {}

  readonly onReport = (report: InvocationReport): void => {
    const counters = this.functions[report.functionName];
    if (!counters) return;
    counters.invocations += 1;
    counters.billedMs += billedDurationMs(report);
    if (report.initDurationMs !== undefined) {
      counters.coldStarts += 1;
      counters.initMs += Math.ceil(report.initDurationMs);
    }
  };

  readonly onTelemetry = (_fn: FunctionName, data: unknown): void => {
    const { produced, dynamodb, snsPublishes } = data as ProbeTelemetry;
    addInto(this.produced, produced);
    addInto(this.dynamodb, dynamodb);
    this.sns.publishes += snsPublishes;
  };

  readonly wrapInvoker =
    (fn: FunctionName, invoke: Invoker): Invoker =>
    async (event) => {
      const counters = this.functions[fn] as FunctionCounters;
      counters.records += recordCount(event);
      this.inFlight[fn] = (this.inFlight[fn] ?? 0) + 1;
      try {
        const outcome = await invoke(event);
        if (outcome.status === 'error') counters.failedInvocations += 1;
        else if (fn === 'notification') this.onCompleted(finalNotifications(event, outcome.payload));
        return outcome;
      } finally {
        this.inFlight[fn] = (this.inFlight[fn] ?? 1) - 1;
      }
    };
}
