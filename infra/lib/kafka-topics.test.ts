import { describe, expect, it } from 'vitest';
import { synthesize } from '../test/synth.ts';
import { assertTopicApiVersion, encodeTopicConfigs } from './kafka-topics.ts';

describe('AWS::MSK::Topic inputs', () => {
  it('accepts the Kafka versions that have MSK topic APIs (3.6 and later), in MSK spelling', () => {
    for (const version of ['3.6.0', '3.6.x', '3.9.x', '3.10.x', '4.0.x', '4.1.x.kraft']) {
      expect(() => assertTopicApiVersion(version), version).not.toThrow();
    }
  });

  it('refuses older and unreadable versions, saying why', () => {
    for (const version of ['3.5.1', '2.8.2.tiered', '3.x', 'latest']) {
      expect(() => assertTopicApiVersion(version), version).toThrow(/need Kafka 3\.6 or later/);
    }
  });

  it('encodes configs as base64 JSON of strings, as the topic API reads them', () => {
    expect(encodeTopicConfigs({ 'retention.ms': '259200000' })).toBe(
      Buffer.from('{"retention.ms":"259200000"}').toString('base64'),
    );
  });

  it('refuses at synth a new cluster whose Kafka has no topic API, before anything deploys', () => {
    expect(() => synthesize({ context: { kafkaVersion: '3.5.1' }, bundle: false })).toThrow(
      /kafkaVersion 3\.5\.1: .*AWS::MSK::Topic/,
    );
  });
});
