import { type ConsumerStep, kafkaConsumerHandler } from '../shared/consumer.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { KpiMetrics } from './metrics.ts';

/**
 * Reads the steps' KPI records (one per step invocation) and turns them into the CloudWatch metrics the
 * dashboard and alarms use. It produces no KPI record of its own (it would read it back): its own
 * measurements, dead letters, go straight to EMF.
 */
export function kpisStep(sink: KpiMetrics): ConsumerStep<'KPIs'> {
  return {
    name: 'kpis',
    topic: 'KPIs',
    ownKpis: 'metrics',
    async process(event) {
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

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
