import { describe, expect, it } from 'vitest';
import { manifest } from './manifest.ts';
import {
  consumersOfTopic,
  deadLetterTopic,
  deadLetterTopicOf,
  isKafkaConsumer,
  kafkaConsumers,
  kafkaTriggerOf,
  topicSettings,
} from './topics.ts';

describe('topic settings', () => {
  it('gives every manifest topic its partitions and its retention in milliseconds', () => {
    const settings = topicSettings();
    expect(settings.map((t) => t.name).sort()).toEqual(Object.keys(manifest.topics).sort());
    expect(settings.find((t) => t.name === 'KPIs')).toEqual({
      name: 'KPIs',
      partitions: manifest.topics.KPIs.partitions,
      configs: { 'retention.ms': String(manifest.topics.KPIs.retentionHours * 3_600_000) },
    });
  });

  it('reads the topics it is given', () => {
    const topics = {
      ...manifest.topics,
      KPIs: { partitions: 1, retentionHours: 0.5, key: 'orderId' as const },
    };
    expect(topicSettings(topics).find((t) => t.name === 'KPIs')).toEqual({
      name: 'KPIs',
      partitions: 1,
      configs: { 'retention.ms': '1800000' },
    });
  });
});

describe('Kafka consumers', () => {
  it('are the functions with a kafka trigger, in manifest order, each with that trigger', () => {
    const expected = Object.entries(manifest.functions).filter(([, fn]) => fn.trigger.kind === 'kafka');
    expect(kafkaConsumers.map(({ name }) => name)).toEqual(expected.map(([name]) => name));
    for (const [name, fn] of expected) expect(kafkaTriggerOf(name)).toBe(fn.trigger);
    expect(kafkaConsumers.map(({ name }) => name)).toContain('inventory');
  });

  it('leave out the API, the scheduled sweeper and names that are no function', () => {
    for (const name of ['order-api', 'outbox-sweeper', 'toString', 'nope']) {
      expect(isKafkaConsumer(name)).toBe(false);
      expect(kafkaTriggerOf(name)).toBeUndefined();
    }
    expect(isKafkaConsumer('inventory')).toBe(true);
  });

  it('answer which function reads a topic', () => {
    expect(consumersOfTopic('OrderReceived')).toEqual(['inventory']);
    expect(consumersOfTopic('DeadLetterQueue')).toEqual([]);
  });
});

describe('dead-letter topic', () => {
  it("is every consumer's on-failure destination", () => {
    const consumers = Object.entries(manifest.functions).filter(([, fn]) => fn.trigger.kind === 'kafka');
    expect(consumers.length).toBeGreaterThan(0);
    for (const [name, fn] of consumers) {
      expect(deadLetterTopicOf(name)).toBe(fn.trigger.kind === 'kafka' ? fn.trigger.onFailure : undefined);
      expect(deadLetterTopicOf(name)).toBe(deadLetterTopic);
    }
    expect(deadLetterTopic).toBe('DeadLetterQueue');
  });

  it('is not defined for a function without a Kafka trigger, nor for an unknown name', () => {
    expect(() => deadLetterTopicOf('order-api')).toThrow(/not a Kafka-triggered function/);
    expect(() => deadLetterTopicOf('outbox-sweeper')).toThrow(/not a Kafka-triggered function/);
    expect(() => deadLetterTopicOf('toString')).toThrow(/not a Kafka-triggered function/);
  });
});
