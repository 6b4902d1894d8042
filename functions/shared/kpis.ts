import { type EncodedRecord, encode, newEvent } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { KpiName, KpiRecorded } from '../../events/schemas/events.ts';
import { OrderId } from '../../events/schemas/order.ts';

/** One measurement of a step: published on the KPIs topic and as a CloudWatch (EMF) metric. */
export interface Kpi {
  name: KpiName;
  value: number;
  unit: KpiRecorded['data']['metrics'][number]['unit'];
}

export const count = (name: KpiName, value = 1): Kpi => ({ name, value, unit: 'Count' });

/**
 * The longest a latency can truly be: a record waits at most its topic's retention (7 days) and a dead
 * letter 14 days more before it is replayed. A longer one is a wrong clock or a forged timestamp.
 */
export const MAX_LATENCY_MS = 31 * 24 * 60 * 60 * 1000;
/** How far ahead of this host's clock a timestamp may be and still mean "just now" (clocks drift). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** KpiRecorded's bounds: one value, the values of one metric, the order ids of one record. */
export const MAX_KPI_VALUE = 1e12;
export const MAX_KPI_VALUES = 10_000;
export const MAX_KPI_ORDER_IDS = 10_000;

/**
 * Milliseconds from `since` (an ISO timestamp, often a record's: untrusted) to `now`. A timestamp slightly
 * ahead of this clock counts as 0; one that is no time at all is NaN and one far ahead is negative, both
 * dropped by {@link validKpis}.
 */
export function millisecondsSince(since: string, now: Date): number {
  const elapsed = now.getTime() - Date.parse(since);
  return elapsed < 0 && elapsed >= -MAX_CLOCK_SKEW_MS ? 0 : elapsed;
}

export const latency = (name: 'StepLatency' | 'EndToEndLatency', since: string, now: Date): Kpi => ({
  name,
  value: millisecondsSince(since, now),
  unit: 'Milliseconds',
});

/** Whether a value is a measurement: finite, not negative, within its unit's bound. */
export function isValidKpiValue(kpi: Kpi): boolean {
  const max = kpi.unit === 'Milliseconds' ? MAX_LATENCY_MS : MAX_KPI_VALUE;
  return Number.isFinite(kpi.value) && kpi.value >= 0 && kpi.value <= max;
}

/**
 * The KPIs that are measurements, plus, when some were not, a `KpiValuesDropped` count of them: values
 * derived from a record are untrusted input, and a bad one is dropped and counted, never published.
 */
export function validKpis(kpis: readonly Kpi[]): Kpi[] {
  const valid = kpis.filter(isValidKpiValue);
  const dropped = kpis.length - valid.length;
  return dropped > 0 ? [...valid, count('KpiValuesDropped', dropped)] : valid;
}

const isOrderId = (orderId: string | undefined): orderId is string =>
  orderId !== undefined && OrderId.safeParse(orderId).success;

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
  const data = kpiData(step, measured);
  if (!data) return undefined;
  return encode(
    'KPIs',
    newEvent('KPIs', {
      // Keyed by step: one step's KPI records stay in order on one partition.
      correlationId: step,
      causationId: invocationId.slice(0, 128),
      source: step,
      discriminator: invocationId,
      occurredAt: now,
      data,
    }),
  );
}

/**
 * The data of an invocation's KPIs record, within the record's schema whatever was measured: invalid
 * values and those beyond a metric's limit are dropped and counted (`KpiValuesDropped`), ids that are
 * not order ids left out. Undefined when nothing was measured.
 */
export function kpiData(step: StepName, measured: readonly MeasuredOrder[]): KpiRecorded['data'] | undefined {
  const metrics = new Map<KpiName, { name: KpiName; unit: Kpi['unit']; values: number[] }>();
  const orderIds = new Set<string>();
  let dropped = 0;
  for (const { orderId, kpis } of measured) {
    if (isOrderId(orderId) && kpis.length > 0 && orderIds.size < MAX_KPI_ORDER_IDS) orderIds.add(orderId);
    for (const kpi of kpis) {
      const metric = metrics.get(kpi.name) ?? { name: kpi.name, unit: kpi.unit, values: [] };
      if (!isValidKpiValue(kpi) || metric.values.length >= MAX_KPI_VALUES) {
        dropped += 1;
        continue;
      }
      metric.values.push(kpi.value);
      metrics.set(kpi.name, metric);
    }
  }
  if (dropped > 0) {
    const metric = metrics.get('KpiValuesDropped') ?? { name: 'KpiValuesDropped', unit: 'Count', values: [] };
    // One value for all the drops, in place of the last one if the metric is full.
    metric.values = [...metric.values.slice(0, MAX_KPI_VALUES - 1), dropped];
    metrics.set('KpiValuesDropped', metric);
  }
  if (metrics.size === 0) return undefined;
  return { step, metrics: [...metrics.values()], orderIds: [...orderIds] };
}
