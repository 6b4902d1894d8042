/**
 * Preloaded into the kpis function's execution environments by `npm start`: the KPI records the function
 * published travel to the dashboard, which runs in the runtime's process, not in the environment.
 */
import type { KpiRecorded } from '../../events/schemas/events.ts';
import { onKpisPublished } from '../../functions/kpis/metrics.ts';
import { postTelemetry } from '../runtime/environments/telemetry.ts';
import type { LocalRuntimeOptions } from '../runtime/runtime.ts';
import { TRACE_FEED_MODULE, traceFeedSpans } from './trace-feed.ts';

const KPI_FEED_MODULE = 'local/dashboard/kpi-feed.ts';
const FEED = 'kpis-published';

onKpisPublished((records) => postTelemetry({ feed: FEED, records }));

/** The records of a telemetry message this module sent; undefined for any other message. */
export function kpiFeedRecords(data: unknown): readonly KpiRecorded[] | undefined {
  const { feed, records } = (data ?? {}) as { feed?: unknown; records?: unknown };
  return feed === FEED && Array.isArray(records) ? (records as KpiRecorded[]) : undefined;
}

/**
 * The runtime options that feed `aggregator` the records the kpis function publishes, and every
 * function's spans (trace-feed.ts) for the orders' waterfalls.
 */
export function feedDashboard(aggregator: {
  record(records: readonly KpiRecorded[]): void;
  recordSpans(spans: readonly unknown[]): void;
}): Pick<LocalRuntimeOptions, 'preload' | 'onTelemetry'> {
  return {
    preload: (fn) => (fn === 'kpis' ? [KPI_FEED_MODULE, TRACE_FEED_MODULE] : [TRACE_FEED_MODULE]),
    onTelemetry: (_fn, data) => {
      const records = kpiFeedRecords(data);
      if (records) aggregator.record(records);
      const spans = traceFeedSpans(data);
      if (spans) aggregator.recordSpans(spans);
    },
  };
}
