/**
 * Preloaded into the kpis function's execution environments by `npm start`: the KPI records the function
 * published travel to the dashboard, which runs in the runtime's process, not in the environment.
 */
import type { KpiRecorded } from '../../events/schemas/events.ts';
import { onKpisPublished } from '../../functions/kpis/metrics.ts';
import { postTelemetry } from '../runtime/environments/telemetry.ts';
import type { LocalRuntimeOptions } from '../runtime/runtime.ts';
import type { DashboardAggregator } from './aggregator.ts';
import { TRACE_FEED_MODULE } from './trace-feed.ts';

const KPI_FEED_MODULE = 'local/dashboard/kpi-feed.ts';

onKpisPublished((records) => postTelemetry({ feed: 'kpis-published', items: records }));

/**
 * The runtime options that feed `aggregator` the records the kpis function publishes, and every
 * function's spans (trace-feed.ts) for the orders' waterfalls.
 */
export function feedDashboard(
  aggregator: Pick<DashboardAggregator, 'record' | 'recordSpans'>,
): Pick<LocalRuntimeOptions, 'preload' | 'onTelemetry'> {
  return {
    preload: (fn) => (fn === 'kpis' ? [KPI_FEED_MODULE, TRACE_FEED_MODULE] : [TRACE_FEED_MODULE]),
    // The KPI records are those the kpis function decoded; the spans are checked by the aggregator.
    onTelemetry: (_fn, data) => {
      const { feed, items } = (data ?? {}) as { feed?: unknown; items?: unknown };
      if (!Array.isArray(items)) return;
      if (feed === 'kpis-published') aggregator.record(items as KpiRecorded[]);
      else if (feed === 'spans') aggregator.recordSpans(items);
    },
  };
}
