import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { StepName } from '../../events/envelope.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import { type Kpi, validKpis } from './kpis.ts';

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

/** Adds KPIs to the metrics flushed (as EMF) at the end of the invocation; invalid values dropped, counted. */
export function addKpiMetrics(metrics: Metrics, kpis: readonly Kpi[]): void {
  for (const kpi of validKpis(kpis)) {
    metrics.addMetric(kpi.name, kpi.unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, kpi.value);
  }
}

/**
 * Powertools' `logMetrics` middleware (the cold-start metric, a flush after every invocation, failed or
 * not) without its warning on an invocation that stored nothing: the steps' KPIs travel as KPIs records,
 * so most invocations store no metric and the warning would be a log line per invocation.
 */
export function flushMetrics(metrics: Metrics): MiddlewareObj<unknown, unknown, Error, Context> {
  const flush = () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return {
    before: (request) => metrics.captureColdStartMetric(request.context.functionName),
    after: flush,
    onError: flush,
  };
}
