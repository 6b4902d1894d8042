import type { ScheduledEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { inProcessInvoker } from './lambda-context.ts';
import { ScheduleEmulator, scheduledEvent } from './scheduler.ts';

const identity = { functionName: 'sweeper', memoryMb: 128, timeoutSeconds: 1 };

/** A handler that counts its runs and resolves `reached(n)` once it has run n times. */
function countingHandler(fail: (run: number) => boolean = () => false) {
  const events: ScheduledEvent[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const handler = async (event: ScheduledEvent) => {
    concurrent += 1;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    await new Promise((resolve) => setImmediate(resolve));
    concurrent -= 1;
    events.push(event);
    for (const waiter of waiters.filter((w) => events.length >= w.n)) waiter.resolve();
    if (fail(events.length)) throw new Error(`run ${events.length} failed`);
    return { run: events.length };
  };
  const reached = (n: number) =>
    new Promise<void>((resolve) => {
      if (events.length >= n) resolve();
      else waiters.push({ n, resolve });
    });
  return { handler, events, reached, maxConcurrent: () => maxConcurrent };
}

describe('schedule emulator', () => {
  it('sends the event EventBridge sends a scheduled rule target', () => {
    const event = scheduledEvent('sweeper', new Date('2026-11-24T10:00:00.123Z'));
    expect(event).toMatchObject({
      version: '0',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: '2026-11-24T10:00:00Z',
      resources: [expect.stringMatching(/^arn:aws:events:[a-z0-9-]+:\d{12}:rule\/sweeper-schedule$/)],
      detail: {},
    });
  });

  it('runs on its interval, goes on after a failed run, and stops', async () => {
    const counting = countingHandler((run) => run === 1);
    const lines: string[] = [];
    const schedule = new ScheduleEmulator({
      ...identity,
      intervalMs: 5,
      invoke: inProcessInvoker(identity, counting.handler),
      log: (l) => lines.push(l),
    });
    schedule.start();
    expect(schedule.scheduled).toBe(true);
    await counting.reached(3);
    await schedule.stop();
    expect(schedule.scheduled).toBe(false);
    expect(schedule.stats.failedInvocations).toBe(1);
    expect(schedule.stats.invocations).toBe(counting.events.length);
    expect(lines[0]).toBe('[sweeper] scheduled invocation failed: run 1 failed');
    expect(counting.events.every((e) => e.source === 'aws.events')).toBe(true);
  });

  it('runs one at a time: runNow waits for the run in flight and returns its own result', async () => {
    const counting = countingHandler();
    const schedule = new ScheduleEmulator({
      ...identity,
      intervalMs: Number.POSITIVE_INFINITY,
      invoke: inProcessInvoker(identity, counting.handler),
      log: () => undefined,
    });
    schedule.start();
    // Never scheduled: an infinite interval only runs when asked.
    expect(schedule.scheduled).toBe(false);
    const results = await Promise.all([schedule.runNow(), schedule.runNow(), schedule.runNow()]);
    expect(results).toEqual([{ run: 1 }, { run: 2 }, { run: 3 }]);
    expect(counting.maxConcurrent()).toBe(1);
    await schedule.stop();
  });

  it('rejects runNow when the run fails, and refuses an interval that is not positive', async () => {
    const schedule = new ScheduleEmulator({
      ...identity,
      intervalMs: Number.POSITIVE_INFINITY,
      invoke: inProcessInvoker(identity, countingHandler(() => true).handler),
      log: () => undefined,
    });
    await expect(schedule.runNow()).rejects.toThrow('run 1 failed');
    expect(
      () =>
        new ScheduleEmulator({
          ...identity,
          intervalMs: 0,
          invoke: inProcessInvoker(identity, async () => undefined),
          log: () => undefined,
        }),
    ).toThrow(/interval must be positive/);
  });
});
