import { describe, expect, it } from 'vitest';
import { manifest } from '../../../topology/manifest.ts';
import { type DesiredTopic, desiredTopics, KafkaTopicsProperties } from './contract.ts';
import { type ExistingTopic, planRemoval, planTopics } from './plan.ts';

const desired = desiredTopics(manifest.topics);
const asExisting = (topics: readonly DesiredTopic[]) =>
  new Map<string, ExistingTopic>(
    topics.map((t) => [t.name, { partitions: t.partitions, configs: t.configs }]),
  );

describe('desired topics from the manifest', () => {
  it('carries every manifest topic with its partitions and retention in ms', () => {
    expect(desired.map((t) => t.name).sort()).toEqual(Object.keys(manifest.topics).sort());
    const dlq = desired.find((t) => t.name === 'DeadLetterQueue');
    expect(dlq).toEqual({
      name: 'DeadLetterQueue',
      partitions: manifest.topics.DeadLetterQueue.partitions,
      configs: { 'retention.ms': String(manifest.topics.DeadLetterQueue.retentionHours * 3_600_000) },
    });
  });

  it('parses the properties CloudFormation sends, where every scalar is a string', () => {
    const props = KafkaTopicsProperties.parse({
      ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:x',
      BootstrapBrokers: 'b-1:9098,b-2:9098',
      ReplicationFactor: '-1',
      DeleteTopicsOnRemoval: 'false',
      Topics: [{ name: 'OrderReceived', partitions: '6', configs: { 'retention.ms': '604800000' } }],
    });
    expect(props.ReplicationFactor).toBe(-1);
    expect(props.DeleteTopicsOnRemoval).toBe(false);
    expect(props.Topics[0]?.partitions).toBe(6);
    expect(() =>
      KafkaTopicsProperties.parse({ ...props, Topics: [{ name: 'x', partitions: '0' }] }),
    ).toThrow();
  });
});

describe('topic plan', () => {
  it('creates every topic on an empty cluster', () => {
    const plan = planTopics({ desired, existing: new Map(), deleteRemoved: false });
    expect(plan.create).toEqual(desired);
    expect(plan.increasePartitions).toEqual([]);
    expect(plan.alterConfigs).toEqual([]);
    expect(plan.problems).toEqual([]);
  });

  it('is a no-op when the cluster already matches (idempotent create and re-run)', () => {
    const plan = planTopics({ desired, existing: asExisting(desired), deleteRemoved: false });
    expect(plan.create).toEqual([]);
    expect(plan.increasePartitions).toEqual([]);
    expect(plan.alterConfigs).toEqual([]);
    expect(plan.unchanged.sort()).toEqual(desired.map((t) => t.name).sort());
  });

  it('only creates the topics that are missing', () => {
    const existing = asExisting(desired.filter((t) => t.name !== 'KPIs'));
    const plan = planTopics({ desired, existing, deleteRemoved: false });
    expect(plan.create.map((t) => t.name)).toEqual(['KPIs']);
  });

  it('increases partitions when the manifest asks for more', () => {
    const existing = asExisting(desired);
    existing.set('OrderReceived', { ...existing.get('OrderReceived')!, partitions: 3 });
    const plan = planTopics({ desired, existing, deleteRemoved: false });
    expect(plan.increasePartitions).toEqual([{ topic: 'OrderReceived', from: 3, to: 6 }]);
    expect(plan.unchanged).not.toContain('OrderReceived');
  });

  it('refuses to shrink a topic, naming it', () => {
    const existing = asExisting(desired);
    existing.set('Notification', { ...existing.get('Notification')!, partitions: 12 });
    const plan = planTopics({ desired, existing, deleteRemoved: false });
    expect(plan.problems).toEqual([expect.stringContaining('Notification has 12 partitions')]);
    expect(plan.increasePartitions).toEqual([]);
  });

  it('sets only the configs whose value differs, including ones the broker left at default', () => {
    const existing = asExisting(desired);
    existing.set('KPIs', { partitions: 3, configs: { 'retention.ms': '604800000' } });
    existing.set('OrderConfirmed', { partitions: 6, configs: {} });
    const plan = planTopics({ desired, existing, deleteRemoved: false });
    expect(plan.alterConfigs).toEqual([
      { topic: 'OrderConfirmed', set: { 'retention.ms': String(168 * 3_600_000) } },
      { topic: 'KPIs', set: { 'retention.ms': String(72 * 3_600_000) } },
    ]);
  });

  it('keeps a topic dropped from the manifest unless deletion is asked for', () => {
    const legacy: DesiredTopic = { name: 'Legacy', partitions: 1, configs: {} };
    const existing = asExisting([...desired, legacy]);
    const previous = [...desired, legacy].map((t) => t.name);
    const kept = planTopics({ desired, existing, previous, deleteRemoved: false });
    expect(kept.retain).toEqual(['Legacy']);
    expect(kept.remove).toEqual([]);
    const deleted = planTopics({ desired, existing, previous, deleteRemoved: true });
    expect(deleted.remove).toEqual(['Legacy']);
  });

  it('reports a topic declared twice', () => {
    const plan = planTopics({
      desired: [...desired, desired[0]!],
      existing: new Map(),
      deleteRemoved: false,
    });
    expect(plan.problems).toEqual([`topic ${desired[0]!.name} is declared twice`]);
  });
});

describe('removal on stack delete', () => {
  const managed = desired.map((t) => t.name);

  it('retains every topic by default', () => {
    expect(planRemoval(managed, false)).toEqual({ remove: [], retain: managed });
  });

  it('deletes every managed topic, and only those, when asked to', () => {
    expect(planRemoval([...managed, managed[0]!], true)).toEqual({ remove: managed, retain: [] });
  });
});
