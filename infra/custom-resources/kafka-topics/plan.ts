import type { DesiredTopic } from './contract.ts';

/** What the cluster holds for one topic: its partition count and the current values of the managed configs. */
export interface ExistingTopic {
  partitions: number;
  configs: Readonly<Record<string, string | null | undefined>>;
}

export interface PartitionIncrease {
  topic: string;
  from: number;
  to: number;
}

export interface ConfigChange {
  topic: string;
  set: Record<string, string>;
}

export interface TopicPlan {
  create: DesiredTopic[];
  increasePartitions: PartitionIncrease[];
  alterConfigs: ConfigChange[];
  /** Topics to delete: only ever non-empty when deletion was asked for. */
  remove: string[];
  /** Topics dropped from the manifest but kept on the cluster, with their data. */
  retain: string[];
  unchanged: string[];
  /** Changes Kafka cannot make; when non-empty the plan must not be applied. */
  problems: string[];
}

export interface PlanInput {
  desired: readonly DesiredTopic[];
  existing: ReadonlyMap<string, ExistingTopic>;
  /** Topics the resource managed before this update (empty on create). */
  previous?: readonly string[];
  deleteRemoved: boolean;
}

/**
 * Diffs the manifest's topics against the cluster. Creating is idempotent (a topic that exists is
 * compared, not re-created), partitions only ever grow (Kafka cannot shrink a topic), and configs are
 * set only when their value differs. Topics that left the manifest are kept unless deletion was asked for.
 */
export function planTopics({ desired, existing, previous = [], deleteRemoved }: PlanInput): TopicPlan {
  const plan: TopicPlan = {
    create: [],
    increasePartitions: [],
    alterConfigs: [],
    remove: [],
    retain: [],
    unchanged: [],
    problems: [],
  };
  const seen = new Set<string>();
  for (const topic of desired) {
    if (seen.has(topic.name)) {
      plan.problems.push(`topic ${topic.name} is declared twice`);
      continue;
    }
    seen.add(topic.name);
    const current = existing.get(topic.name);
    if (current === undefined) {
      plan.create.push(topic);
      continue;
    }
    let changed = false;
    if (topic.partitions < current.partitions) {
      plan.problems.push(
        `topic ${topic.name} has ${current.partitions} partitions and Kafka cannot reduce them to ${topic.partitions}; create a new topic instead`,
      );
    } else if (topic.partitions > current.partitions) {
      plan.increasePartitions.push({ topic: topic.name, from: current.partitions, to: topic.partitions });
      changed = true;
    }
    const set = Object.fromEntries(
      Object.entries(topic.configs).filter(([key, value]) => current.configs[key] !== value),
    );
    if (Object.keys(set).length > 0) {
      plan.alterConfigs.push({ topic: topic.name, set });
      changed = true;
    }
    if (!changed) plan.unchanged.push(topic.name);
  }
  for (const name of new Set(previous)) {
    if (seen.has(name) || !existing.has(name)) continue;
    (deleteRemoved ? plan.remove : plan.retain).push(name);
  }
  return plan;
}

/**
 * On stack delete: every managed topic is deleted when asked for (deleting one that is already gone is
 * not an error), otherwise every one is kept. No listing is consulted: a broker's may lag.
 */
export function planRemoval(
  managed: readonly string[],
  deleteRemoved: boolean,
): { remove: string[]; retain: string[] } {
  const unique = [...new Set(managed)];
  return deleteRemoved ? { remove: unique, retain: [] } : { remove: [], retain: unique };
}
