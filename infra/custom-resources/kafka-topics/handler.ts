import {
  Admin,
  ConfigResourceTypes,
  IncrementalAlterConfigOperationTypes,
  SASLMechanisms,
} from '@platformatic/kafka';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import { type DesiredTopic, KafkaTopicsProperties } from './contract.ts';
import { type ExistingTopic, planRemoval, planTopics } from './plan.ts';

/**
 * onEvent handler of the Kafka topics custom resource (CDK Provider framework). It runs in the VPC,
 * talks to the brokers with TLS + SASL/OAUTHBEARER signed by its own role (MSK IAM), and makes the
 * cluster's topics match the manifest. The pure decision lives in plan.ts; this file only reads and writes.
 */

interface ProviderResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

const log = (message: string, details: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ level: 'INFO', message, ...details })}\n`);

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

async function createTopic(admin: Admin, topic: DesiredTopic, replicationFactor: number): Promise<void> {
  try {
    await admin.createTopics({
      topics: [topic.name],
      partitions: topic.partitions,
      replicas: replicationFactor,
      configs: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
    });
  } catch (error) {
    // Another writer may have created it between our read and this call: that is the state we want.
    if ((await admin.listTopics()).includes(topic.name)) return;
    throw error;
  }
}

export async function handler(event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> {
  const props = KafkaTopicsProperties.parse(event.ResourceProperties);
  const physicalResourceId =
    event.RequestType === 'Create' ? `kafka-topics-${event.LogicalResourceId}` : event.PhysicalResourceId;
  const names = props.Topics.map((t) => t.name);
  const admin = createAdmin(props.BootstrapBrokers);
  try {
    if (event.RequestType === 'Delete') {
      const { remove, retain } = planRemoval(
        names,
        new Set(await admin.listTopics()),
        props.DeleteTopicsOnRemoval,
      );
      if (remove.length > 0) await admin.deleteTopics({ topics: remove });
      log('stack delete', { deleted: remove, retained: retain });
      return { PhysicalResourceId: physicalResourceId };
    }

    const previous =
      event.RequestType === 'Update'
        ? KafkaTopicsProperties.parse(event.OldResourceProperties).Topics.map((t) => t.name)
        : [];
    const configKeys = [...new Set(props.Topics.flatMap((t) => Object.keys(t.configs)))];
    const existing = await readTopics(admin, [...new Set([...names, ...previous])], configKeys);
    const plan = planTopics({
      desired: props.Topics,
      existing,
      previous,
      deleteRemoved: props.DeleteTopicsOnRemoval,
    });
    log('plan', { ...plan });
    if (plan.problems.length > 0) throw new Error(`cannot apply the topic plan: ${plan.problems.join('; ')}`);

    for (const topic of plan.create) await createTopic(admin, topic, props.ReplicationFactor);
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
    if (plan.remove.length > 0) await admin.deleteTopics({ topics: plan.remove });

    return {
      PhysicalResourceId: physicalResourceId,
      Data: {
        Topics: names.join(','),
        Created: plan.create.map((t) => t.name).join(','),
        Retained: plan.retain.join(','),
      },
    };
  } finally {
    await admin.close();
  }
}
