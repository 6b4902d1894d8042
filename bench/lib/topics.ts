import type { TopicName } from '../../events/topics.ts';
import { kafkaConsumers } from '../../topology/topics.ts';

/** The topics the Kafka-triggered functions consume, in pipeline order. */
export function consumerTopics(): TopicName[] {
  return kafkaConsumers.map(({ trigger }) => trigger.topic);
}

/** The topics a shipped order goes through after the API, in order: the four hops the baseline stands for. */
export const orderPathTopics = [
  'OrderReceived',
  'OrderConfirmed',
  'OrderPickedAndPacked',
  'Notification',
] as const;
