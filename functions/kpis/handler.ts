import { stepHandler } from '../shared/step-handler.ts';
import { KpiMetrics } from './metrics.ts';
import { kpisStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `plausibility.ts`, its EMF sink `metrics.ts`.
const sink = new KpiMetrics();

export const handler = stepHandler('kpis', () => kpisStep(sink)).use({
  after: () => sink.publish(),
  onError: () => sink.clear(),
});
