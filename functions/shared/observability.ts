import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StepName } from '../../events/envelope.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import type { Kpi } from './kpis.ts';

/**
 * The Powertools logger and metrics of one step. The service name is explicit (not read from the
 * environment) so that several steps can share one process, as they do in the local runtime.
 */
export function observability(step: StepName): { logger: Logger; metrics: Metrics } {
  return {
    logger: new Logger({ serviceName: step }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: step }),
  };
}

/** Adds KPIs to the metrics flushed (as EMF) at the end of the invocation. */
export function addKpiMetrics(metrics: Metrics, kpis: readonly Kpi[]): void {
  for (const kpi of kpis) {
    metrics.addMetric(kpi.name, kpi.unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, kpi.value);
  }
}
