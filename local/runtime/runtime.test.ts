import { describe, expect, it } from 'vitest';
import { LambdaKafkaFailureRecord } from '../../events/schemas/events.ts';
import { inProcessInvoker } from './lambda-context.ts';
import { buildMskEvent, type ConsumedRecord, onFailureRecord } from './msk-event.ts';

const record = (overrides: Partial<ConsumedRecord> = {}): ConsumedRecord => ({
  topic: 'OrderReceived',
  partition: 2,
  offset: 41n,
  timestamp: 1_764_000_000_000n,
  key: Buffer.from('ord-1'),
  value: Buffer.from('{"a":1}'),
  headerEntries: [[Buffer.from('event-id'), Buffer.from('e1')]],
  ...overrides,
});

const source = {
  eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/x/y-1',
  bootstrapServers: 'b:1,b:2',
};

describe('MSK event rendering', () => {
  it('groups records by topic-partition in offset order, with base64 key and value and byte headers', () => {
    const event = buildMskEvent(source, [
      record({ offset: 43n }),
      record({ partition: 0, offset: 7n }),
      record({ offset: 42n, key: null }),
    ]);
    expect(Object.keys(event.records)).toEqual(['OrderReceived-2', 'OrderReceived-0']);
    expect(event.records['OrderReceived-2']!.map((r) => r.offset)).toEqual([42, 43]);
    expect(event.records['OrderReceived-2']![0]).not.toHaveProperty('key');
    expect(event.records['OrderReceived-2']![1]).toEqual({
      topic: 'OrderReceived',
      partition: 2,
      offset: 43,
      timestamp: 1_764_000_000_000,
      timestampType: 'CREATE_TIME',
      key: Buffer.from('ord-1').toString('base64'),
      value: Buffer.from('{"a":1}').toString('base64'),
      headers: [{ 'event-id': [101, 49] }],
    });
  });

  it('builds one on-failure record per record, carrying the record and the failure', () => {
    const failure = onFailureRecord(
      source,
      {
        requestId: 'r-1',
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
        approximateInvokeCount: 4,
      },
      record(),
    );
    expect(failure.requestContext).toEqual({
      requestId: 'r-1',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 4,
    });
    expect(failure.KafkaBatchInfo).toMatchObject({
      batchSize: 1,
      recordInfo: { offset: '41', timestamp: new Date(1_764_000_000_000).toISOString() },
    });
    expect(failure.payload.records['OrderReceived-2']).toHaveLength(1);
  });

  it('writes the record the one schema of it describes, whole or reduced', () => {
    const failure = {
      requestId: 'r-2',
      functionArn: 'arn:aws:lambda:us-east-1:0:function:f',
      approximateInvokeCount: 2,
    };
    for (const reduced of [false, true]) {
      const written = JSON.parse(JSON.stringify(onFailureRecord(source, failure, record(), { reduced })));
      const parsed = LambdaKafkaFailureRecord.safeParse(written);
      expect(parsed.error).toBeUndefined();
      expect(parsed.data?.KafkaBatchInfo.payloadSize).toBeGreaterThan(0);
      expect(parsed.data?.payload.records['OrderReceived-2']?.[0]?.valueTruncated).toBe(reduced || undefined);
    }
    const withoutBatchInfo = { ...onFailureRecord(source, failure, record()), KafkaBatchInfo: undefined };
    expect(LambdaKafkaFailureRecord.safeParse(withoutBatchInfo).success).toBe(false);
  });
});

describe('invocation', () => {
  const fn = { functionName: 'f', memoryMb: 128, timeoutSeconds: 0.2 };

  it('settles on the promise of an async handler, and on the callback of a callback-style one', async () => {
    await expect(inProcessInvoker(fn, async () => 'async')({})).resolves.toMatchObject({ payload: 'async' });
    await expect(
      inProcessInvoker(fn, (_e, _c, callback) => void setTimeout(() => callback(null, 'cb'), 10))({}),
    ).resolves.toMatchObject({ payload: 'cb' });
    await expect(
      inProcessInvoker(fn, async () => Promise.reject(new Error('no')))({}),
    ).resolves.toMatchObject({
      status: 'error',
      errorMessage: 'no',
    });
  });

  it('fails an invocation that outlives the timeout', async () => {
    const slow = () => new Promise<void>((resolve) => setTimeout(resolve, 1_000));
    await expect(inProcessInvoker(fn, slow)({})).resolves.toMatchObject({
      status: 'error',
      kind: 'timeout',
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 0.20 seconds',
    });
  });
});
