import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaMskEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import { type TopicName, topicNames } from '../../events/topics.ts';
import { functionNames } from '../../topology/index.ts';
import { projectRoot } from '../python/venv.ts';
import type { MskEvent } from '../runtime/msk-event.ts';
import { buildSamples, samplesDir, samplesFor, sampleText, topicSampleName } from './samples.ts';

describe('sample events (events/samples/)', () => {
  it('are checked in exactly as npm run samples generates them (none stale, none missing, none extra)', () => {
    const generated = buildSamples();
    const files = readdirSync(samplesDir).filter((file) => file.endsWith('.json'));
    expect(files.sort(), 'events/samples/ is stale: npm run samples').toEqual(
      Object.keys(generated)
        .map((name) => `${name}.json`)
        .sort(),
    );
    for (const [name, event] of Object.entries(generated)) {
      expect(
        readFileSync(join(samplesDir, `${name}.json`), 'utf8'),
        `${name}.json is stale: npm run samples`,
      ).toBe(sampleText(event));
    }
  });

  it('are the same whoever generates them, whatever the region', () => {
    const before = JSON.stringify(buildSamples());
    const region = process.env.AWS_REGION;
    process.env.AWS_REGION = 'eu-west-3';
    try {
      expect(JSON.stringify(buildSamples())).toBe(before);
    } finally {
      if (region === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = region;
    }
  });

  it('give every function of the manifest at least one sample that exists', () => {
    const names = Object.keys(buildSamples());
    for (const fn of functionNames) {
      expect(samplesFor(fn).length, fn).toBeGreaterThan(0);
      for (const sample of samplesFor(fn)) expect(names, `${fn}: ${sample}`).toContain(sample);
    }
  });

  it('carry, per topic, an MSK event Powertools parses, holding a valid event of that topic', () => {
    const samples = buildSamples();
    for (const topic of topicNames) {
      const event = samples[topicSampleName(topic)] as MskEvent;
      expect(KafkaMskEventSchema.safeParse(event).success, topic).toBe(true);
      const records = Object.values(event.records).flat();
      expect(records).toHaveLength(1);
      const decoded = decode(topic as TopicName, Buffer.from(records[0]?.value ?? '', 'base64'));
      expect(decoded.ok, topic).toBe(true);
    }
  });
});

describe('npm run invoke: bad input', () => {
  const invoke = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'local/invoke/cli.ts', ...args], {
      cwd: projectRoot,
      encoding: 'utf8',
      // Nothing listens on port 1: the services check must fail fast and clearly.
      env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', DYNAMODB_ENDPOINT: 'http://127.0.0.1:1' },
      timeout: 60_000,
    });

  it('exits 2 naming the problem: unknown function, unknown sample, unreachable services', () => {
    const unknownFunction = invoke('no-such-function');
    expect(unknownFunction.status).toBe(2);
    expect(unknownFunction.stderr).toContain('unknown function "no-such-function"');
    const unknownSample = invoke('inventory', 'no-such-sample');
    expect(unknownSample.status).toBe(2);
    expect(unknownSample.stderr).toContain("inventory's samples: order-received");
    const unreachable = invoke('inventory');
    expect(unreachable.status).toBe(2);
    expect(unreachable.stderr).toContain(
      'Kafka at 127.0.0.1:1 and DynamoDB at http://127.0.0.1:1 not reachable',
    );
    expect(unreachable.stdout).toBe('');
  });
});
