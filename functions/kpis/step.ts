import { PermanentError } from '../shared/errors.ts';
import type { ConsumerStep } from '../shared/step-types.ts';
import type { KpiMetrics } from './metrics.ts';
import { implausibility } from './plausibility.ts';

/** A KPIs record its step cannot have measured (a forged or broken producer): dead-lettered, not counted. */
export class ImplausibleKpisError extends PermanentError {
  override readonly name = 'ImplausibleKpisError';
}

/**
 * Reads the steps' KPI records (one per step invocation) and turns them into the CloudWatch metrics the
 * dashboard and alarms use. It produces no KPI record of its own (it would read it back): its own
 * measurements, dead letters, go straight to EMF. A record that its step cannot have measured (see
 * `implausibility`) is dead-lettered with its reason and counts nowhere.
 */
export function kpisStep(sink: KpiMetrics): ConsumerStep<'KPIs'> {
  return {
    name: 'kpis',
    topic: 'KPIs',
    ownKpis: 'metrics',
    async process(event) {
      const problem = implausibility(event);
      if (problem) throw new ImplausibleKpisError(`KPIs record not counted: ${problem}`);
      const added = sink.add(event);
      return {
        orderId: event.correlationId,
        events: [],
        kpis: [],
        replayed: !added,
        summary: `${event.data.step}: ${event.data.metrics.length} metric(s)`,
      };
    },
  };
}
