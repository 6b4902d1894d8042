import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StepName } from '../../events/envelope.ts';
import type { KpiRecorded } from '../../events/schemas/events.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';

/** Who else hears the KPI records the function turned into metrics (locally: the dashboard). */
export type KpiListener = (records: readonly KpiRecorded[]) => void;

// On globalThis: the local watch mode reloads the functions in a module graph of their own, and the
// dashboard's listener must hear every generation.
const LISTENERS = Symbol.for('order-pipeline.kpi-listeners');
const registry = globalThis as { [LISTENERS]?: Set<KpiListener> };
registry[LISTENERS] ??= new Set<KpiListener>();
const listeners = registry[LISTENERS];

/**
 * Registers a listener of the KPI records published, once each; returns its removal. Nothing registers on
 * AWS: the local runtime's dashboard does, so the function itself depends on no dashboard.
 */
export function onKpisPublished(listener: KpiListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * The service under which the dead letters of every step are also counted, as one metric: an alarm on
 * metric math takes at most 10 metrics, too few for one per step and one per event source mapping.
 */
export const ALL_STEPS_SERVICE = 'all-steps';

/** How many record ids a warm instance remembers to drop a redelivered record (ids are deterministic). */
const REMEMBERED_IDS = 10_000;

/**
 * The KPI records of one invocation as EMF metrics, one Powertools Metrics per reporting step, so every
 * metric keeps the name and the one dimension (`service` = the step) the steps gave it when they emitted
 * their own metrics: the dashboard's SEARCH and the alarms' metrics find them unchanged.
 */
export class KpiMetrics {
  private readonly byStep = new Map<StepName | typeof ALL_STEPS_SERVICE, Metrics>();
  private pending: KpiRecorded[] = [];
  private readonly published = new Map<string, true>();

  /** The step's metrics, not flushed yet (tests read them). */
  of(step: StepName | typeof ALL_STEPS_SERVICE): Metrics {
    let metrics = this.byStep.get(step);
    if (!metrics) {
      metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: step });
      this.byStep.set(step, metrics);
    }
    return metrics;
  }

  /** Stores a record's metrics; false (and nothing stored) when the record was published already. */
  add(record: KpiRecorded): boolean {
    if (this.published.has(record.eventId) || this.pending.some((p) => p.eventId === record.eventId))
      return false;
    const metrics = this.of(record.data.step);
    for (const { name, unit, values } of record.data.metrics) {
      const metricUnit = unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds;
      for (const value of values) metrics.addMetric(name, metricUnit, value);
      if (name === 'RecordsDeadLettered')
        for (const value of values) this.of(ALL_STEPS_SERVICE).addMetric(name, metricUnit, value);
    }
    this.pending.push(record);
    return true;
  }

  /** Flushes the stored metrics (EMF on stdout) and tells the listeners; at the end of an invocation. */
  publish(): void {
    const records = this.pending;
    this.pending = [];
    const steps = new Set(records.map((record) => record.data.step));
    for (const step of steps) this.of(step).publishStoredMetrics();
    if (this.hasDeadLetters(records)) this.of(ALL_STEPS_SERVICE).publishStoredMetrics();
    for (const record of records) {
      this.published.set(record.eventId, true);
      if (this.published.size > REMEMBERED_IDS) {
        const oldest = this.published.keys().next().value;
        if (oldest !== undefined) this.published.delete(oldest);
      }
    }
    if (records.length === 0) return;
    for (const listener of listeners) {
      try {
        listener(records);
      } catch {
        // A listener's failure is its own: the metrics are published.
      }
    }
  }

  private hasDeadLetters(records: readonly KpiRecorded[]): boolean {
    return records.some((record) => record.data.metrics.some((m) => m.name === 'RecordsDeadLettered'));
  }

  /** Forgets what a failed invocation stored: its retry stores it again. */
  clear(): void {
    for (const step of new Set(this.pending.map((record) => record.data.step))) this.of(step).clearMetrics();
    this.of(ALL_STEPS_SERVICE).clearMetrics();
    this.pending = [];
  }
}
