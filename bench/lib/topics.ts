import { functionNames, manifest } from '../../topology/manifest.ts';

/** The topics the Kafka-triggered functions consume, in pipeline order. */
export function consumerTopics(): string[] {
  return functionNames.flatMap((fn) => {
    const trigger = manifest.functions[fn].trigger;
    return trigger.kind === 'kafka' ? [trigger.topic] : [];
  });
}
