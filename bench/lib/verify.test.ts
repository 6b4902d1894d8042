import { describe, expect, it } from 'vitest';
import { localClusterArn, onFailureRecord } from '../../local/runtime/msk-event.ts';
import { functionLetter } from '../../tools/dlq/testing.ts';
import { subtractStats } from './phase.ts';
import { parseDeadLetter } from './verify.ts';

describe('dead letters (read with the one dead-letter reader, tools/dlq)', () => {
  it("reads the original key and topic of a function's DeadLettered event", () => {
    const value = functionLetter({
      key: 'poison-1',
      topic: 'OrderReceived',
      partition: 0,
      offset: '7',
      value: Buffer.from('x'),
    });
    expect(parseDeadLetter({ key: Buffer.from('unknown'), value })).toEqual({
      reason: 'poison',
      originalKey: 'poison-1',
      sourceTopic: 'OrderReceived',
    });
  });

  it("reads the event source mapping's on-failure record by its original record's key", () => {
    const record = {
      topic: 'Notification',
      partition: 0,
      offset: 3n,
      timestamp: 1_764_000_000_000n,
      key: Buffer.from('ord-1'),
      value: Buffer.from('{}'),
      headerEntries: [],
    };
    const failure = onFailureRecord(
      { eventSourceArn: localClusterArn(), bootstrapServers: 'b:9092' },
      {
        requestId: 'r',
        approximateInvokeCount: 9,
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:shipper',
      },
      record,
    );
    expect(
      parseDeadLetter({ key: Buffer.from('ord-1'), value: Buffer.from(JSON.stringify(failure)) }),
    ).toEqual({
      reason: 'retries-exhausted',
      originalKey: 'ord-1',
      sourceTopic: 'Notification',
    });
  });

  it('keeps unreadable records', () => {
    expect(parseDeadLetter({ key: null, value: Buffer.from('%%') }).reason).toBe('unreadable');
  });
});

describe('counters of the measured part of a run', () => {
  it('subtracts the warm-up, keeping configuration values', () => {
    const before = { functions: { a: { memoryMb: 512, invocations: 2 } }, produced: { T: { records: 3 } } };
    const after = {
      functions: { a: { memoryMb: 512, invocations: 7 } },
      produced: { T: { records: 5 }, U: { records: 1 } },
    };
    expect(subtractStats(after, before as typeof after)).toEqual({
      functions: { a: { memoryMb: 512, invocations: 5 } },
      produced: { T: { records: 2 }, U: { records: 1 } },
    });
  });
});
