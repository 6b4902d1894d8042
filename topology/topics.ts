import type { TopicName } from '../events/topics.ts';
import { type FunctionName, manifest } from './manifest.ts';
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

type Consumer = {
  [F in FunctionName]: (typeof manifest.functions)[F]['trigger'] extends { kind: 'kafka' } ? F : never;
}[FunctionName];

/** The topics the manifest names as an on-failure destination (typed: a topic that carries dead letters). */
export type DeadLetterTopic = (typeof manifest.functions)[Consumer]['trigger']['onFailure'];

const isConsumer = (name: FunctionName): name is Consumer =>
  manifest.functions[name].trigger.kind === 'kafka';

/** The on-failure destination of a Kafka-triggered function's trigger; throws for any other function. */
export function deadLetterTopicOf(name: string): DeadLetterTopic {
  if (!Object.hasOwn(manifest.functions, name) || !isConsumer(name as FunctionName)) {
    throw new Error(`${name} is not a Kafka-triggered function of the manifest: it has no on-failure topic`);
  }
  const trigger: Pick<KafkaTrigger, 'onFailure'> = manifest.functions[name as Consumer].trigger;
  return trigger.onFailure as DeadLetterTopic;
}

/**
 * The pipeline's dead-letter topic: the one `onFailure` every consumer's trigger names. The DLQ tool and
 * the benchmarks read dead letters from one topic, so a manifest naming two refuses to load.
 */
export const deadLetterTopic: DeadLetterTopic = (() => {
  const names = new Set(
    (Object.keys(manifest.functions) as FunctionName[]).filter(isConsumer).map(deadLetterTopicOf),
  );
  const [only, ...others] = names;
  if (only === undefined || others.length > 0) {
    throw new Error(
      `the manifest must name exactly one on-failure topic for its consumers, found ${[...names].join(', ') || 'none'}`,
    );
  }
  return only;
})();
