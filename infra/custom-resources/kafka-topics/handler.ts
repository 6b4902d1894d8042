import { setTimeout as sleep } from 'node:timers/promises';
import {
  Admin,
  ConfigResourceTypes,
  IncrementalAlterConfigOperationTypes,
  SASLMechanisms,
} from '@platformatic/kafka';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import { type DesiredTopic, KafkaTopicsProperties } from './contract.ts';
import { type ExistingTopic, planRemoval, planTopics, type TopicPlan } from './plan.ts';

/**
 * onEvent handler of the Kafka topics custom resource (CDK Provider framework). It runs in the VPC,
 * talks to the brokers with TLS + SASL/OAUTHBEARER signed by its own role (MSK IAM), and makes the
 * cluster's topics match the manifest. The pure decision lives in plan.ts; this file reads and writes.
 */

export interface ProviderResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

const log = (message: string, details: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ level: 'INFO', message, ...details })}\n`);

/** A broker's metadata trails the controller: a topic just created may be missing from a listing for a moment. */
const MAX_PASSES = 10;
const PASS_DELAY_MS = 1_000;

function createAdmin(bootstrapBrokers: string): Admin {
  const region = process.env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  return new Admin({
    clientId: 'order-pipeline-kafka-topics',
    bootstrapBrokers: bootstrapBrokers.split(',').map((broker) => broker.trim()),
    // MSK IAM: TLS on 9098, and a token presigned with the function's credentials for every connection.
    tls: {},
    sasl: {
      mechanism: SASLMechanisms.OAUTHBEARER,
      token: async () => (await generateAuthToken({ region })).token,
    },
    timeout: 30_000,
    retries: 5,
  });
}

/** True when `error` (or one it aggregates) is the Kafka protocol error `apiId`. */
function isKafkaError(error: unknown, apiId: 'TOPIC_ALREADY_EXISTS' | 'UNKNOWN_TOPIC_OR_PARTITION'): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { apiId?: unknown }).apiId === apiId) return true;
  const nested = (error as { errors?: unknown }).errors;
  return Array.isArray(nested) && nested.length > 0 && nested.every((inner) => isKafkaError(inner, apiId));
}

async function readTopics(
  admin: Admin,
  names: readonly string[],
  configKeys: readonly string[],
): Promise<Map<string, ExistingTopic>> {
  const listed = new Set(await admin.listTopics());
  const present = names.filter((name) => listed.has(name));
  const existing = new Map<string, ExistingTopic>();
  if (present.length === 0) return existing;
  const metadata = await admin.metadata({ topics: present, forceUpdate: true });
  const descriptions = await admin.describeConfigs({
    resources: present.map((name) => ({
      resourceType: ConfigResourceTypes.TOPIC,
      resourceName: name,
      configurationKeys: [...configKeys],
    })),
  });
  for (const name of present) {
    const configs = descriptions.find((d) => d.resourceName === name)?.configs ?? [];
    existing.set(name, {
      partitions: metadata.topics.get(name)?.partitionsCount ?? 0,
      configs: Object.fromEntries(configs.map((c) => [c.name, c.value])),
    });
  }
  return existing;
}

/** Creates the topic; `false` when it already existed (the next pass compares it instead). */
async function createTopic(admin: Admin, topic: DesiredTopic, replicationFactor: number): Promise<boolean> {
  try {
    await admin.createTopics({
      topics: [topic.name],
      partitions: topic.partitions,
      replicas: replicationFactor,
      configs: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
    });
    return true;
  } catch (error) {
    if (isKafkaError(error, 'TOPIC_ALREADY_EXISTS')) return false;
    throw error;
  }
}

async function deleteTopic(admin: Admin, name: string): Promise<void> {
  try {
    await admin.deleteTopics({ topics: [name] });
  } catch (error) {
    if (!isKafkaError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error;
  }
}

/** Applies one plan; returns the topics it meant to create but found existing. */
async function apply(admin: Admin, plan: TopicPlan, replicationFactor: number): Promise<string[]> {
  const collided: string[] = [];
  for (const topic of plan.create) {
    if (!(await createTopic(admin, topic, replicationFactor))) collided.push(topic.name);
  }
  if (plan.increasePartitions.length > 0) {
    await admin.createPartitions({
      topics: plan.increasePartitions.map(({ topic, to }) => ({ name: topic, count: to })),
    });
  }
  if (plan.alterConfigs.length > 0) {
    await admin.incrementalAlterConfigs({
      resources: plan.alterConfigs.map(({ topic, set }) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic,
        configs: Object.entries(set).map(([name, value]) => ({
          name,
          value,
          configOperation: IncrementalAlterConfigOperationTypes.SET,
        })),
      })),
    });
  }
  for (const name of plan.remove) await deleteTopic(admin, name);
  return collided;
}

/**
 * Makes the cluster's topics match the event's properties through `admin`. Exported apart from the
 * handler so it can run against any broker (a local plaintext one in a test, MSK with IAM here).
 * Each pass reads, plans and applies; a create that finds the topic already there (another writer, or
 * a listing that lagged) leads to another pass, which compares that topic instead.
 */
export async function reconcile(
  admin: Admin,
  event: CloudFormationCustomResourceEvent,
): Promise<ProviderResponse> {
  const props = KafkaTopicsProperties.parse(event.ResourceProperties);
  const physicalResourceId =
    event.RequestType === 'Create' ? `kafka-topics-${event.LogicalResourceId}` : event.PhysicalResourceId;
  const names = props.Topics.map((t) => t.name);

  if (event.RequestType === 'Delete') {
    const { remove, retain } = planRemoval(names, props.DeleteTopicsOnRemoval);
    for (const name of remove) await deleteTopic(admin, name);
    log('stack delete', { deleted: remove, retained: retain });
    return { PhysicalResourceId: physicalResourceId };
  }

  const previous =
    event.RequestType === 'Update'
      ? KafkaTopicsProperties.parse(event.OldResourceProperties).Topics.map((t) => t.name)
      : [];
  const configKeys = [...new Set(props.Topics.flatMap((t) => Object.keys(t.configs)))];
  const created = new Set<string>();
  const retained = new Set<string>();
  for (let pass = 1; ; pass += 1) {
    const existing = await readTopics(admin, [...new Set([...names, ...previous])], configKeys);
    // A topic this run created is compared, never re-created, even while a listing still misses it.
    const plan = planTopics({
      desired: props.Topics.filter((t) => !created.has(t.name) || existing.has(t.name)),
      existing,
      previous,
      deleteRemoved: props.DeleteTopicsOnRemoval,
    });
    log('plan', { pass, ...plan });
    if (plan.problems.length > 0) throw new Error(`cannot apply the topic plan: ${plan.problems.join('; ')}`);
    for (const name of plan.retain) retained.add(name);
    const collided = await apply(admin, plan, props.ReplicationFactor);
    for (const topic of plan.create) if (!collided.includes(topic.name)) created.add(topic.name);
    if (collided.length === 0) break;
    if (pass === MAX_PASSES) throw new Error(`topics ${collided.join(', ')} exist but cannot be described`);
    await sleep(PASS_DELAY_MS);
  }

  return {
    PhysicalResourceId: physicalResourceId,
    Data: { Topics: names.join(','), Created: [...created].join(','), Retained: [...retained].join(',') },
  };
}

export async function handler(event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> {
  const { BootstrapBrokers } = KafkaTopicsProperties.parse(event.ResourceProperties);
  const admin = createAdmin(BootstrapBrokers);
  try {
    return await reconcile(admin, event);
  } finally {
    await admin.close();
  }
}
