import { randomUUID } from 'node:crypto';
import { Admin, ConfigResourceTypes } from '@platformatic/kafka';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../infra/custom-resources/kafka-topics/handler.ts';
import { testInfra } from '../support/env.ts';

/**
 * The CDK stack's topics custom resource, run against the real broker (plaintext here; on AWS the same
 * `reconcile` runs with MSK IAM): create, grow, reconfigure, retain, delete.
 */
const admin = new Admin({ clientId: 'test-kafka-topics', bootstrapBrokers: testInfra().kafkaBrokers });
afterAll(() => admin.close());

const prefix = `cr-${randomUUID().slice(0, 8)}`;
const a = `${prefix}-a`;
const b = `${prefix}-b`;

type TopicProps = { name: string; partitions: number; configs: Record<string, string> }[];

function event(
  requestType: 'Create' | 'Update' | 'Delete',
  topics: TopicProps,
  options: { old?: TopicProps; deleteOnRemoval?: boolean } = {},
): CloudFormationCustomResourceEvent {
  const props = {
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    BootstrapBrokers: testInfra().kafkaBrokers.join(','),
    ReplicationFactor: '1',
    DeleteTopicsOnRemoval: String(options.deleteOnRemoval ?? false),
    Topics: topics,
  };
  const base = {
    ServiceToken: props.ServiceToken,
    ResponseURL: 'https://example.invalid/',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/s/1',
    RequestId: randomUUID(),
    LogicalResourceId: 'KafkaTopics',
    ResourceType: 'Custom::KafkaTopics',
    ResourceProperties: props,
  };
  if (requestType === 'Create') return { ...base, RequestType: 'Create' };
  if (requestType === 'Delete')
    return { ...base, RequestType: 'Delete', PhysicalResourceId: 'kafka-topics-KafkaTopics' };
  return {
    ...base,
    RequestType: 'Update',
    PhysicalResourceId: 'kafka-topics-KafkaTopics',
    OldResourceProperties: { ...props, Topics: options.old ?? [] },
  };
}

async function describe_(names: string[]): Promise<Map<string, { partitions: number; retention?: string }>> {
  const listed = new Set(await admin.listTopics());
  const present = names.filter((n) => listed.has(n));
  const found = new Map<string, { partitions: number; retention?: string }>();
  if (present.length === 0) return found;
  const metadata = await admin.metadata({ topics: present, forceUpdate: true });
  const configs = await admin.describeConfigs({
    resources: present.map((name) => ({
      resourceType: ConfigResourceTypes.TOPIC,
      resourceName: name,
      configurationKeys: ['retention.ms'],
    })),
  });
  for (const name of present) {
    const retention = configs
      .find((c) => c.resourceName === name)
      ?.configs.find((c) => c.name === 'retention.ms');
    found.set(name, {
      partitions: metadata.topics.get(name)?.partitionsCount ?? 0,
      ...(retention?.value ? { retention: retention.value } : {}),
    });
  }
  return found;
}

describe('kafka topics custom resource on the real broker', () => {
  const v1: TopicProps = [
    { name: a, partitions: 2, configs: { 'retention.ms': '3600000' } },
    { name: b, partitions: 1, configs: { 'retention.ms': '7200000' } },
  ];

  it('creates the topics with their partitions and configs, and a second Create changes nothing', async () => {
    const response = await reconcile(admin, event('Create', v1));
    expect(response.Data?.Created?.split(',').sort()).toEqual([a, b]);
    expect(await describe_([a, b])).toEqual(
      new Map([
        [a, { partitions: 2, retention: '3600000' }],
        [b, { partitions: 1, retention: '7200000' }],
      ]),
    );
    const again = await reconcile(admin, event('Create', v1));
    expect(again.Data?.Created).toBe('');
  });

  it('grows partitions and changes configs on Update, and keeps a dropped topic by default', async () => {
    const v2: TopicProps = [{ name: a, partitions: 4, configs: { 'retention.ms': '1800000' } }];
    const response = await reconcile(admin, event('Update', v2, { old: v1 }));
    expect(response.Data?.Retained).toBe(b);
    const topics = await describe_([a, b]);
    expect(topics.get(a)).toEqual({ partitions: 4, retention: '1800000' });
    expect(topics.has(b)).toBe(true);
  });

  it('refuses to shrink a topic', async () => {
    const shrink: TopicProps = [{ name: a, partitions: 1, configs: {} }];
    await expect(reconcile(admin, event('Update', shrink, { old: shrink }))).rejects.toThrow(/cannot apply/);
    expect((await describe_([a])).get(a)?.partitions).toBe(4);
  });

  it('keeps the topics on stack delete unless asked, then deletes them', async () => {
    await reconcile(admin, event('Delete', v1));
    expect([...(await describe_([a, b])).keys()].sort()).toEqual([a, b]);
    await reconcile(admin, event('Delete', v1, { deleteOnRemoval: true }));
    await expect.poll(async () => (await describe_([a, b])).size, { timeout: 15_000 }).toBe(0);
  });
});
