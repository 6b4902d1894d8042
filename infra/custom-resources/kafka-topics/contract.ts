import { z } from 'zod';
import type { TopicSpec } from '../../../topology/types.ts';

/** A topic as the custom resource creates it: partitions plus the topic-level configs it manages. */
export interface DesiredTopic {
  name: string;
  partitions: number;
  configs: Record<string, string>;
}

const HOUR_MS = 3_600_000;

/** The manifest's topics, in the shape the custom resource manages. */
export function desiredTopics(topics: Readonly<Record<string, TopicSpec>>): DesiredTopic[] {
  return Object.entries(topics).map(([name, spec]) => ({
    name,
    partitions: spec.partitions,
    configs: { 'retention.ms': String(spec.retentionHours * HOUR_MS) },
  }));
}

/**
 * The resource properties. CloudFormation hands every scalar to the handler as a string, so numbers
 * and booleans are coerced here rather than trusted.
 */
export const KafkaTopicsProperties = z.object({
  BootstrapBrokers: z.string().min(1),
  /** -1 lets the brokers' `default.replication.factor` decide (2 on a two-AZ MSK cluster). */
  ReplicationFactor: z.coerce.number().int().min(-1).default(-1),
  /** `true` deletes the managed topics on stack delete, and topics dropped from the manifest on update. */
  DeleteTopicsOnRemoval: z
    .union([z.boolean(), z.enum(['true', 'false'])])
    .transform((value) => value === true || value === 'true')
    .default(false),
  Topics: z.array(
    z.object({
      name: z.string().min(1).max(249),
      partitions: z.coerce.number().int().positive(),
      configs: z.record(z.string(), z.string()).default({}),
    }),
  ),
});
export type KafkaTopicsProperties = z.infer<typeof KafkaTopicsProperties>;
