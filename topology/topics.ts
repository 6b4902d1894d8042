import type { TopicName } from '../events/topics.ts';
import { type FunctionName, functionNames, manifest } from './manifest.ts';
import type { KafkaTrigger, TopicSpec } from './types.ts';

const HOUR_MS = 3_600_000;

/** A topic as it should exist on a cluster: partitions and the topic-level configs the manifest sets. */
export interface TopicSettings {
  name: TopicName;
  partitions: number;
  configs: { 'retention.ms': string };
}

/**
 * What topics should exist, with what settings: the one answer for the local broker and the stack's
 * `AWS::MSK::Topic` resources.
 */
export function topicSettings(
  topics: Readonly<Record<TopicName, TopicSpec>> = manifest.topics,
): TopicSettings[] {
  return (Object.entries(topics) as [TopicName, TopicSpec][]).map(([name, spec]) => ({
    name,
    partitions: spec.partitions,
    configs: { 'retention.ms': String(spec.retentionHours * HOUR_MS) },
  }));
}

/** A function of the manifest that a Kafka event source mapping invokes (its trigger is `kafka`). */
export type KafkaConsumer = {
  [F in FunctionName]: (typeof manifest.functions)[F]['trigger'] extends { kind: 'kafka' } ? F : never;
}[FunctionName];

/** The topics the manifest names as an on-failure destination (typed: a topic that carries dead letters). */
export type DeadLetterTopic = (typeof manifest.functions)[KafkaConsumer]['trigger']['onFailure'];

/** Whether `name` is a function of the manifest that a Kafka event source mapping invokes. */
export const isKafkaConsumer = (name: string): name is KafkaConsumer =>
  Object.hasOwn(manifest.functions, name) &&
  manifest.functions[name as FunctionName].trigger.kind === 'kafka';

/**
 * The manifest's Kafka consumers with their triggers, in manifest (pipeline) order: the one answer to
 * "which functions read Kafka", for the stack, the local runtime's tools, the benchmarks and the DLQ tool.
 */
export const kafkaConsumers: readonly { name: KafkaConsumer; trigger: KafkaTrigger }[] = functionNames
  .filter(isKafkaConsumer)
  .map((name) => ({ name, trigger: manifest.functions[name].trigger }));

/** The Kafka trigger of a function of the manifest; undefined for any other function or name. */
export const kafkaTriggerOf = (name: string): KafkaTrigger | undefined =>
  kafkaConsumers.find((consumer) => consumer.name === name)?.trigger;

/** The functions whose mapping reads `topic` (one in this pipeline; none for a topic nobody consumes). */
export const consumersOfTopic = (topic: string): KafkaConsumer[] =>
  kafkaConsumers.filter((consumer) => consumer.trigger.topic === topic).map((consumer) => consumer.name);

/** The on-failure destination of a Kafka-triggered function's trigger; throws for any other function. */
export function deadLetterTopicOf(name: string): DeadLetterTopic {
  const trigger = kafkaTriggerOf(name);
  if (trigger === undefined) {
    throw new Error(`${name} is not a Kafka-triggered function of the manifest: it has no on-failure topic`);
  }
  return trigger.onFailure as DeadLetterTopic;
}

/**
 * The pipeline's dead-letter topic: the one `onFailure` every consumer's trigger names. The DLQ tool and
 * the benchmarks read dead letters from one topic, so a manifest naming two refuses to load.
 */
export const deadLetterTopic: DeadLetterTopic = (() => {
  const names = new Set(kafkaConsumers.map(({ trigger }) => trigger.onFailure as DeadLetterTopic));
  const [only, ...others] = names;
  if (only === undefined || others.length > 0) {
    throw new Error(
      `the manifest must name exactly one on-failure topic for its consumers, found ${[...names].join(', ') || 'none'}`,
    );
  }
  return only;
})();
