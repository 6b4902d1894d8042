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

/** The consumer of each topic of the order's path, with its trigger (the baseline gives each hop its batch size). */
export function orderPathSteps(): (typeof kafkaConsumers)[number][] {
  return orderPathTopics.map((topic) => {
    const consumer = kafkaConsumers.find(({ trigger }) => trigger.topic === topic);
    if (!consumer) throw new Error(`no function consumes ${topic}`);
    return consumer;
  });
}
