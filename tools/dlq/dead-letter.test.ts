import { describe, expect, it } from 'vitest';
import { parseDeadLetter as benchParseDeadLetter } from '../../bench/lib/verify.ts';
import { encode, newEvent } from '../../events/index.ts';
import { DeadLetterReplayed } from '../../events/schemas/dead-letter-replayed.ts';
import {
  type DeadLetter,
  isOriginalOf,
  matches,
  parseDeadLetterQueueRecord,
  replayId,
  stepOf,
} from './dead-letter.ts';
import { functionLetter as letterOf } from './testing.ts';

const poisonBytes = Buffer.from('{"not": "an event"');

const functionLetter = encode(
  'DeadLetterQueue',
  newEvent('DeadLetterQueue', {
    correlationId: 'ord-7',
    causationId: 'OrderReceived:2:41',
    source: 'inventory',
    data: {
      reason: 'poison',
      function: 'inventory',
      error: { name: 'EventDecodeError', message: 'not-json: Unexpected end of JSON input' },
      attempts: 1,
      record: {
        topic: 'OrderReceived',
        partition: 2,
        offset: '41',
        key: Buffer.from('ord-7').toString('base64'),
        value: poisonBytes.toString('base64'),
        headers: [{ key: 'event-id', value: Buffer.from('e-1').toString('base64') }],
      },
    },
  }),
).value;

/** Shaped like the Lambda guide's example of a Kafka on-failure destination record. */
const lambdaLetter = Buffer.from(
  JSON.stringify({
    requestContext: {
      requestId: 'req-1',
      functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:warehouse:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 4,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: '2026-11-24T10:00:00.000Z',
    KafkaBatchInfo: { batchSize: 1 },
    payload: {
      eventSource: 'aws:kafka',
      eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/c/u',
      bootstrapServers: 'b-1:9098',
      records: {
        'OrderConfirmed-1': [
          {
            topic: 'OrderConfirmed',
            partition: 1,
            offset: 9,
            timestamp: 1764000000000,
            timestampType: 'CREATE_TIME',
            key: Buffer.from('ord-8').toString('base64'),
            value: Buffer.from('{"eventId":"x"}').toString('base64'),
            headers: [{ 'event-id': [...Buffer.from('e-2')] }],
          },
        ],
      },
    },
  }),
);

/** The dead letters of `value`, failing the test when it is a marker or unreadable. */
function lettersOf(value: Buffer): DeadLetter[] {
  const parsed = parseDeadLetterQueueRecord(value);
  if (parsed.kind !== 'letters') throw new Error(`expected dead letters, got ${JSON.stringify(parsed)}`);
  return parsed.letters;
}

const marker = Buffer.from(
  JSON.stringify(
    DeadLetterReplayed.parse({
      eventId: '0f8fad5b-d9cb-469f-a165-70867728950e',
      eventType: 'DeadLetterReplayed',
      version: 1,
      occurredAt: '2026-11-24T10:00:00.000Z',
      correlationId: 'ord-7',
      causationId: 'DeadLetterQueue:1:12',
      source: 'dlq-replay',
      data: {
        letter: { topic: 'DeadLetterQueue', partition: 1, offset: '12' },
        original: { topic: 'OrderReceived', partition: 2, offset: '41' },
        valueFrom: 'dead-letter',
      },
    }),
  ),
);

describe('dead letters', () => {
  it("reads a function's DeadLettered event back to the original bytes", () => {
    const [letter] = lettersOf(functionLetter);
    expect(letter).toMatchObject({
      writer: 'function',
      reason: 'poison',
      failedIn: 'inventory',
      valueTruncated: false,
      headersTruncated: false,
      valueBytes: undefined,
    });
    expect(letter?.error).toContain('not-json');
    expect(letter?.original).toEqual({
      topic: 'OrderReceived',
      partition: 2,
      offset: '41',
      key: Buffer.from('ord-7'),
      value: poisonBytes,
      headers: [['event-id', Buffer.from('e-1')]],
    });
  });

  it("reads Lambda's own on-failure record, headers from byte arrays", () => {
    const [letter] = lettersOf(lambdaLetter);
    expect(letter).toMatchObject({ writer: 'event-source-mapping', reason: 'retries-exhausted' });
    expect(letter?.failedIn).toContain(':function:warehouse');
    expect(letter?.error).toBe('RetriesExhausted after 4 invocation(s)');
    expect(letter?.original.topic).toBe('OrderConfirmed');
    expect(letter?.original.offset).toBe('9');
    expect(letter?.original.key?.toString()).toBe('ord-8');
    expect(letter?.original.value?.toString()).toBe('{"eventId":"x"}');
    expect(letter?.original.headers).toEqual([['event-id', Buffer.from('e-2')]]);
    expect(letter?.valueTruncated).toBe(false);
  });

  it("reads the emulator's reduced on-failure record (no value) as truncated, never as a tombstone", () => {
    const lambda = JSON.parse(lambdaLetter.toString()) as {
      payload: { records: Record<string, Record<string, unknown>[]> };
    };
    const record = lambda.payload.records['OrderConfirmed-1']?.[0] as Record<string, unknown>;
    delete record.value;
    Object.assign(record, { valueBytes: 2_000_000, valueTruncated: true });
    const [letter] = lettersOf(Buffer.from(JSON.stringify(lambda)));
    expect(letter?.valueTruncated).toBe(true);
    expect(letter?.valueBytes).toBe(2_000_000);
    expect(letter?.original.value).toBeNull();
  });

  it('reads a replay marker as a marker, not as a dead letter nor as unreadable', () => {
    const parsed = parseDeadLetterQueueRecord(marker);
    expect(parsed.kind).toBe('marker');
    if (parsed.kind !== 'marker') return;
    expect(replayId(parsed.marker.data.original)).toBe('OrderReceived:2:41');
    const [letter] = lettersOf(functionLetter);
    if (!letter) throw new Error('fixture did not parse');
    // The marker names the letter's record the way the replay identifies it.
    expect(replayId(parsed.marker.data.original)).toBe(replayId(letter.original));
  });

  it('says why a marker is broken instead of taking it for a dead letter', () => {
    const broken = JSON.parse(marker.toString()) as { data: { original: { offset: string } } };
    broken.data.original.offset = '-1';
    const parsed = parseDeadLetterQueueRecord(Buffer.from(JSON.stringify(broken)));
    expect(parsed).toEqual({
      kind: 'unreadable',
      error: expect.stringContaining('DeadLetterReplayed marker'),
    });
  });

  it('reads a truncated letter: the prefix, the original size, and which parts were cut', () => {
    const full = Buffer.from('{"eventId":"a-very-long-value"}');
    const [letter] = lettersOf(
      letterOf({
        key: 'ord-9',
        topic: 'Notification',
        partition: 1,
        offset: '77',
        value: full.subarray(0, 8),
        truncated: { valueBytes: full.length, headersTruncated: true },
      }),
    );
    expect(letter).toMatchObject({ valueTruncated: true, headersTruncated: true, valueBytes: full.length });
    expect(letter?.original.value).toEqual(full.subarray(0, 8));
    if (!letter) return;
    expect(isOriginalOf(letter, { key: Buffer.from('ord-9'), value: full })).toBe(true);
    // Another record at the same coordinates (a recreated topic): another key, size or beginning.
    expect(isOriginalOf(letter, { key: Buffer.from('ord-10'), value: full })).toBe(false);
    expect(isOriginalOf(letter, { key: Buffer.from('ord-9'), value: Buffer.concat([full, full]) })).toBe(
      false,
    );
    const other = Buffer.from(full);
    other[0] = 0x5b;
    expect(isOriginalOf(letter, { key: Buffer.from('ord-9'), value: other })).toBe(false);
    expect(isOriginalOf(letter, { key: Buffer.from('ord-9'), value: null })).toBe(false);
  });

  it('reads a letter whose key was cut too, and knows its original by the key prefix and size', () => {
    const key = `k-${'x'.repeat(40)}`;
    const value = Buffer.from('v');
    const [letter] = lettersOf(
      letterOf({
        key,
        topic: 'Notification',
        partition: 0,
        offset: '5',
        value,
        truncated: { valueBytes: 1, key: { prefix: key.slice(0, 10), keyBytes: key.length } },
      }),
    );
    expect(letter).toMatchObject({ keyTruncated: true, keyBytes: key.length });
    if (!letter) return;
    expect(isOriginalOf(letter, { key: Buffer.from(key), value })).toBe(true);
    expect(isOriginalOf(letter, { key: Buffer.from(`${key}y`), value })).toBe(false);
    expect(isOriginalOf(letter, { key: Buffer.from(key.slice(0, 10)), value })).toBe(false);
  });

  it('refuses truncation fields of the wrong type rather than guessing', () => {
    const json = JSON.parse(functionLetter.toString()) as { data: { record: Record<string, unknown> } };
    json.data.record.valueTruncated = 'yes';
    json.data.record.valueBytes = -3;
    expect(parseDeadLetterQueueRecord(Buffer.from(JSON.stringify(json)))).toEqual({
      kind: 'unreadable',
      error: expect.stringContaining('valueTruncated'),
    });
  });

  it('says why a value is neither format', () => {
    expect(parseDeadLetterQueueRecord(Buffer.from('garbage'))).toEqual({
      kind: 'unreadable',
      error: expect.stringContaining('not-json'),
    });
    expect(parseDeadLetterQueueRecord(null)).toEqual({
      kind: 'unreadable',
      error: expect.stringContaining('empty'),
    });
    expect(parseDeadLetterQueueRecord(Buffer.from('{"eventType":"Other"}'))).toEqual({
      kind: 'unreadable',
      error: expect.stringContaining('nor a Lambda on-failure record'),
    });
  });

  it('filters by topic, reason, function and order', () => {
    const [ours] = lettersOf(functionLetter);
    const [theirs] = lettersOf(lambdaLetter);
    if (!ours || !theirs) throw new Error('fixtures did not parse');
    expect(matches(ours, {})).toBe(true);
    expect(
      matches(ours, { topic: 'OrderReceived', reason: 'poison', failedIn: 'inventory', orderId: 'ord-7' }),
    ).toBe(true);
    expect(matches(ours, { reason: 'retries-exhausted' })).toBe(false);
    expect(matches(ours, { orderId: 'ord-8' })).toBe(false);
    expect(matches(theirs, { failedIn: 'warehouse' })).toBe(true);
    expect(matches(theirs, { topic: 'OrderReceived' })).toBe(false);
  });

  it('filters by the step exactly: inventory is not inventory-release, in either shape of letter', () => {
    const [ours] = lettersOf(functionLetter);
    const [theirs] = lettersOf(lambdaLetter);
    if (!ours || !theirs) throw new Error('fixtures did not parse');
    const release: DeadLetter = { ...ours, failedIn: 'inventory-release' };
    expect(matches(release, { failedIn: 'inventory' })).toBe(false);
    expect(matches(release, { failedIn: 'inventory-release' })).toBe(true);
    expect(matches(ours, { failedIn: 'inventory-release' })).toBe(false);
    expect(matches(ours, { failedIn: 'inv' })).toBe(false);
    // Lambda's letter: the function's name locally; on AWS a generated name, so the topic's consumer.
    const arn = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:${name}:$LATEST`;
    const local: DeadLetter = { ...theirs, failedIn: arn('inventory-release') };
    expect(stepOf(local)).toBe('inventory-release');
    expect(matches(local, { failedIn: 'inventory' })).toBe(false);
    const cancelled = { ...theirs.original, topic: 'OrderCancelled' };
    const onAws: DeadLetter = {
      ...theirs,
      failedIn: arn('OrderPipeline-FunctionsInventoryRelease1A2B3C4D-x1y2z3'),
      original: cancelled,
    };
    expect(stepOf(onAws)).toBe('inventory-release');
    expect(matches(onAws, { failedIn: 'inventory' })).toBe(false);
    expect(matches(onAws, { failedIn: 'inventory-release' })).toBe(true);
    // A topic no step consumes, and a name that is none of the steps: no step, so no --function matches.
    const stray: DeadLetter = { ...onAws, original: { ...cancelled, topic: 'elsewhere' } };
    expect(stepOf(stray)).toBeUndefined();
  });

  it("the bench's reader of DeadLetterQueue does not count a marker as a dead letter", () => {
    expect(benchParseDeadLetter({ key: Buffer.from('ord-7'), value: marker }).reason).toBe('replay-marker');
    expect(benchParseDeadLetter({ key: Buffer.from('ord-7'), value: functionLetter }).reason).toBe('poison');
  });
});
