import { describe, expect, it } from 'vitest';
import { encode, newEvent } from '../../events/index.ts';
import { matches, parseDeadLetter } from './dead-letter.ts';

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

describe('dead letters', () => {
  it("reads a function's DeadLettered event back to the original bytes", () => {
    const letters = parseDeadLetter(functionLetter);
    expect(Array.isArray(letters)).toBe(true);
    const [letter] = letters as Exclude<typeof letters, { error: string }>;
    expect(letter).toMatchObject({ writer: 'function', reason: 'poison', failedIn: 'inventory' });
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
    const letters = parseDeadLetter(lambdaLetter);
    expect(Array.isArray(letters)).toBe(true);
    const [letter] = letters as Exclude<typeof letters, { error: string }>;
    expect(letter).toMatchObject({ writer: 'event-source-mapping', reason: 'retries-exhausted' });
    expect(letter?.failedIn).toContain(':function:warehouse');
    expect(letter?.error).toBe('RetriesExhausted after 4 invocation(s)');
    expect(letter?.original.topic).toBe('OrderConfirmed');
    expect(letter?.original.offset).toBe('9');
    expect(letter?.original.key?.toString()).toBe('ord-8');
    expect(letter?.original.value?.toString()).toBe('{"eventId":"x"}');
    expect(letter?.original.headers).toEqual([['event-id', Buffer.from('e-2')]]);
  });

  it('says why a value is neither format', () => {
    expect(parseDeadLetter(Buffer.from('garbage'))).toEqual({ error: expect.stringContaining('not-json') });
    expect(parseDeadLetter(Buffer.from('{"eventType":"Other"}'))).toEqual({
      error: expect.stringContaining('nor a Lambda on-failure record'),
    });
  });

  it('filters by topic, reason, function and order', () => {
    const [ours] = parseDeadLetter(functionLetter) as Exclude<
      ReturnType<typeof parseDeadLetter>,
      { error: string }
    >;
    const [theirs] = parseDeadLetter(lambdaLetter) as Exclude<
      ReturnType<typeof parseDeadLetter>,
      { error: string }
    >;
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
});
