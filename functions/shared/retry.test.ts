import { describe, expect, it } from 'vitest';
import { fullJitter, retry } from './retry.ts';

/** A fake clock: records the waits instead of waiting. */
function recorder() {
  const waits: number[] = [];
  return { waits, wait: async (ms: number) => void waits.push(ms) };
}

/** Fails `failures` times with `error`, then resolves with the attempt number. */
function flaky(failures: number, error: unknown = new Error('busy')) {
  const calls: number[] = [];
  const fn = async (attempt: number) => {
    calls.push(attempt);
    if (calls.length <= failures) throw error;
    return attempt;
  };
  return { calls, fn };
}

describe('retry', () => {
  it('returns the first success, with the attempt number, after waiting the delays of each retry', async () => {
    const clock = recorder();
    const { calls, fn } = flaky(2);
    const result = await retry(fn, { attempts: 5, delay: (n) => n * 10, wait: clock.wait });
    expect(result).toBe(3);
    expect(calls).toEqual([1, 2, 3]);
    expect(clock.waits).toEqual([10, 20]);
  });

  it('stops at `attempts` and throws the last error itself, not a wrapper', async () => {
    const clock = recorder();
    const error = Object.assign(new Error('conflict'), { name: 'TransactionConflictException' });
    const { calls, fn } = flaky(10, error);
    await expect(retry(fn, { attempts: 4, wait: clock.wait, delay: () => 1 })).rejects.toBe(error);
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(clock.waits).toEqual([1, 1, 1]);
  });

  it('does not retry an error `retryIf` refuses', async () => {
    const { calls, fn } = flaky(10, new Error('out of stock'));
    await expect(retry(fn, { attempts: 4, retryIf: () => false })).rejects.toThrow('out of stock');
    expect(calls).toEqual([1]);
  });

  it('passes the error and the attempt to retryIf and onRetry', async () => {
    const seen: unknown[] = [];
    const { fn } = flaky(2);
    await retry(fn, {
      attempts: 3,
      retryIf: (error, attempt) => {
        seen.push(['retryIf', (error as Error).message, attempt]);
        return true;
      },
      onRetry: ({ attempt, delayMs }) => seen.push(['onRetry', attempt, delayMs]),
      delay: () => 0,
    });
    expect(seen).toEqual([
      ['retryIf', 'busy', 1],
      ['onRetry', 1, 0],
      ['retryIf', 'busy', 2],
      ['onRetry', 2, 0],
    ]);
  });

  it('one attempt is a plain call', async () => {
    const { calls, fn } = flaky(1);
    await expect(retry(fn, { attempts: 1 })).rejects.toThrow('busy');
    expect(calls).toEqual([1]);
  });

  it('refuses a bound that is no positive integer', async () => {
    for (const attempts of [0, -1, 1.5, Number.NaN]) {
      await expect(retry(async () => 1, { attempts })).rejects.toThrow(RangeError);
    }
  });

  it('an aborted signal stops before the next attempt, with its reason', async () => {
    const controller = new AbortController();
    const { calls, fn } = flaky(10);
    const stopped = retry(fn, {
      attempts: 10,
      signal: controller.signal,
      onRetry: ({ attempt }) => {
        if (attempt === 2) controller.abort(new Error('shutting down'));
      },
    });
    await expect(stopped).rejects.toThrow('shutting down');
    expect(calls).toEqual([1, 2]);
  });

  it('an abort during a real wait ends the wait', async () => {
    const controller = new AbortController();
    const { calls, fn } = flaky(10);
    const stopped = retry(fn, { attempts: 3, delay: () => 60_000, signal: controller.signal });
    setImmediate(() => controller.abort(new Error('deadline')));
    await expect(stopped).rejects.toThrow();
    expect(calls).toEqual([1]);
  });
});

describe('fullJitter', () => {
  it('draws in [0, min(cap, base × 2^(n−1))): exponential, then capped', () => {
    const top = fullJitter({ baseMs: 25, capMs: 1_000, random: () => 0.999_999 });
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => Math.round(top(n)))).toEqual([25, 50, 100, 200, 400, 800, 1000]);
    const bottom = fullJitter({ baseMs: 25, capMs: 1_000, random: () => 0 });
    expect(bottom(5)).toBe(0);
  });

  it('is random between the bounds (full jitter, not equal jitter)', () => {
    const delay = fullJitter({ baseMs: 100, capMs: 100 });
    const draws = Array.from({ length: 200 }, () => delay(3));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(100);
    expect(Math.min(...draws)).toBeLessThan(50);
    expect(new Set(draws).size).toBeGreaterThan(100);
  });
});
