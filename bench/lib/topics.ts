import { type FunctionName, functionNames, manifest } from '../../topology/manifest.ts';

/** The topics the Kafka-triggered functions consume, in pipeline order. */
export function consumerTopics(): string[] {
  return functionNames.flatMap((fn) => {
    const trigger = manifest.functions[fn].trigger;
    return trigger.kind === 'kafka' ? [trigger.topic] : [];
  });
}

/** The topics a shipped order goes through after the API, in order: the four hops the baseline stands for. */
export const orderPathTopics = [
  'OrderReceived',
  'OrderConfirmed',
  'OrderPickedAndPacked',
  'Notification',
] as const;

/** The function that consumes each topic of the order's path (the baseline gives each hop its batch size). */
export function orderPathSteps(): FunctionName[] {
  return orderPathTopics.map((topic) => {
    const fn = functionNames.find((name) => {
      const trigger = manifest.functions[name].trigger;
      return trigger.kind === 'kafka' && trigger.topic === topic;
    });
    if (!fn) throw new Error(`no function consumes ${topic}`);
    return fn;
  });
}
