import { kafkaConsumerHandler } from '../shared/consumer.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { KpiMetrics } from './metrics.ts';
import { kpisStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `plausibility.ts`, its EMF sink `metrics.ts`.
const { logger, metrics } = observability('kpis');
const sink = new KpiMetrics();

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({ step: kpisStep(sink), deps: { produce } }),
}).use({
  after: () => sink.publish(),
  onError: () => sink.clear(),
});
