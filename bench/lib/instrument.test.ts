import { describe, expect, it } from 'vitest';
import { finalNotifications, PipelineCounters } from './instrument.ts';
import type { Completion } from './protocol.ts';

const record = (offset: number, kind: string, orderId: string) => ({
  offset,
  value: Buffer.from(JSON.stringify({ data: { kind, orderId } })).toString('base64'),
});

const event = {
  records: {
    'Notification-0': [record(4, 'order-packed', 'o1'), record(5, 'order-shipped', 'o1')],
    'Notification-1': [record(7, 'order-shipped', 'o2'), { offset: 8, value: 'not json' }],
  },
};

describe('the bench counters of the runtime process', () => {
  it('finishes the orders of the final notifications, but not a record the partial batch response failed', () => {
    const orders = (completions: Completion[]) => completions.map((c) => `${c.orderId}:${c.kind}`);
    expect(orders(finalNotifications(event))).toEqual(['o1:order-shipped', 'o2:order-shipped']);
    const failed = { batchItemFailures: [{ itemIdentifier: { partition: 'Notification-1', offset: 7 } }] };
    expect(orders(finalNotifications(event, failed))).toEqual(['o1:order-shipped']);
  });

  it('leaves out what follows a failed record in its partition: the mapping redoes the partition from it', () => {
    const orders = (completions: Completion[]) => completions.map((c) => `${c.orderId}:${c.kind}`);
    const failed = { batchItemFailures: [{ itemIdentifier: { partition: 'Notification-0', offset: 4 } }] };
    expect(orders(finalNotifications(event, failed))).toEqual(['o2:order-shipped']);
  });

  it('takes billed durations from REPORTs, counts around invocations, and adds up the environments', async () => {
    const completed: Completion[] = [];
    const counters = new PipelineCounters((c) => completed.push(...c));
    counters.onReport({
      functionName: 'notification',
      requestId: 'r1',
      durationMs: 10.2,
      initDurationMs: 150.5,
      memorySizeMb: 512,
      maxMemoryUsedMb: 80,
    });
    counters.onReport({
      functionName: 'notification',
      requestId: 'r2',
      durationMs: 3,
      memorySizeMb: 512,
      maxMemoryUsedMb: 80,
    });
    const invoke = counters.wrapInvoker('notification', async () => {
      expect(counters.inFlight.notification).toBe(1);
      return { status: 'ok', requestId: 'r3', payload: null };
    });
    await invoke(event);
    await counters.wrapInvoker('notification', async () => ({
      status: 'error',
      requestId: 'r4',
      kind: 'timeout',
      errorType: 'Sandbox.Timedout',
      errorMessage: 'timed out',
    }))(event);
    for (let i = 0; i < 2; i++)
      counters.onTelemetry('notification', {
        produced: { KPIs: { records: 1, bytes: 100 } },
        dynamodb: { t: { calls: 2, readUnits: 0, writeUnits: 3 } },
        snsPublishes: 1,
      });

    expect(counters.functions.notification).toMatchObject({
      invocations: 2,
      billedMs: 11 + 151 + 3,
      coldStarts: 1,
      initMs: 151,
      records: 8,
      failedInvocations: 1,
    });
    expect(counters.inFlight.notification).toBe(0);
    expect(completed.map((c) => c.orderId)).toEqual(['o1', 'o2']);
    expect(counters.produced).toEqual({ KPIs: { records: 2, bytes: 200 } });
    expect(counters.dynamodb).toEqual({ t: { calls: 4, readUnits: 0, writeUnits: 6 } });
    expect(counters.sns.publishes).toBe(2);
  });
});
