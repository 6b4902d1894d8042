import { type EncodedRecord, encode, newEvent } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { KpiName, KpiRecorded } from '../../events/schemas/events.ts';

/** One measurement of a step: published on the KPIs topic and as a CloudWatch (EMF) metric. */
export interface Kpi {
  name: KpiName;
  value: number;
  unit: KpiRecorded['data']['unit'];
}

export const count = (name: KpiName, value = 1): Kpi => ({ name, value, unit: 'Count' });

/** Milliseconds from `since` (an ISO timestamp) to `now`, never negative (clocks drift between hosts). */
export function millisecondsSince(since: string, now: Date): number {
  const start = Date.parse(since);
  if (Number.isNaN(start)) return 0;
  return Math.max(0, now.getTime() - start);
}

export const latency = (name: 'StepLatency' | 'EndToEndLatency', since: string, now: Date): Kpi => ({
  name,
  value: millisecondsSince(since, now),
  unit: 'Milliseconds',
});

export interface KpiCause {
  /** The event (or request) the step reacted to: KPI event ids derive from it, one per KPI name. */
  causationId: string;
  orderId: string | undefined;
}

/** The KPIs topic records for `kpis`, with deterministic ids so a retried step re-produces the same ones. */
export function kpiRecords(
  step: StepName,
  cause: KpiCause,
  kpis: readonly Kpi[],
  now: Date,
): EncodedRecord[] {
  return kpis.map((kpi) =>
    encode(
      'KPIs',
      newEvent('KPIs', {
        correlationId: cause.orderId ?? cause.causationId,
        causationId: cause.causationId,
        source: step,
        discriminator: kpi.name,
        occurredAt: now,
        data: {
          name: kpi.name,
          value: kpi.value,
          unit: kpi.unit,
          step,
          ...(cause.orderId ? { orderId: cause.orderId } : {}),
        },
      }),
    ),
  );
}
