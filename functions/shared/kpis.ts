import { type EncodedRecord, encode, newEvent } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { KpiName, KpiRecorded } from '../../events/schemas/events.ts';

/** One measurement of a step: published on the KPIs topic and as a CloudWatch (EMF) metric. */
export interface Kpi {
  name: KpiName;
  value: number;
  unit: KpiRecorded['data']['metrics'][number]['unit'];
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

/** What one invocation measured, per order it moved. */
export interface MeasuredOrder {
  orderId: string | undefined;
  kpis: readonly Kpi[];
}

/**
 * The one KPIs record of a step invocation: every metric with all its values, and the orders it moved.
 * `invocationId` (e.g. the batch's first record coordinates) makes the id deterministic, so a retried
 * invocation re-produces the same record. Undefined when nothing was measured.
 */
export function kpiRecord(
  step: StepName,
  invocationId: string,
  measured: readonly MeasuredOrder[],
  now: Date,
): EncodedRecord | undefined {
  const metrics = new Map<KpiName, { name: KpiName; unit: Kpi['unit']; values: number[] }>();
  const orderIds = new Set<string>();
  for (const { orderId, kpis } of measured) {
    if (orderId && kpis.length > 0) orderIds.add(orderId);
    for (const kpi of kpis) {
      const metric = metrics.get(kpi.name) ?? { name: kpi.name, unit: kpi.unit, values: [] };
      metric.values.push(kpi.value);
      metrics.set(kpi.name, metric);
    }
  }
  if (metrics.size === 0) return undefined;
  return encode(
    'KPIs',
    newEvent('KPIs', {
      // Keyed by step: one step's KPI records stay in order on one partition.
      correlationId: step,
      causationId: invocationId.slice(0, 128),
      source: step,
      discriminator: invocationId,
      occurredAt: now,
      data: { step, metrics: [...metrics.values()], orderIds: [...orderIds] },
    }),
  );
}
