import { describe, expect, it } from 'vitest';
import { subtractStats } from './phase.ts';
import { parseDeadLetter } from './verify.ts';

describe('dead letters', () => {
  it('reads the original key of a function-written DeadLettered event', () => {
    const value = {
      eventType: 'DeadLettered',
      data: {
        reason: 'poison',
        record: { topic: 'OrderReceived', key: Buffer.from('poison-1').toString('base64') },
      },
    };
    expect(
      parseDeadLetter({ key: Buffer.from('unknown'), value: Buffer.from(JSON.stringify(value)) }),
    ).toEqual({
      reason: 'poison',
      originalKey: 'poison-1',
      sourceTopic: 'OrderReceived',
    });
  });

  it('reads an event source mapping on-failure record by its Kafka key', () => {
    const value = {
      requestContext: { condition: 'RetriesExhausted' },
      payload: { records: { 'Notification-0': [{ topic: 'Notification' }] } },
    };
    expect(parseDeadLetter({ key: Buffer.from('ord-1'), value: Buffer.from(JSON.stringify(value)) })).toEqual(
      {
        reason: 'RetriesExhausted',
        originalKey: 'ord-1',
        sourceTopic: 'Notification',
      },
    );
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
