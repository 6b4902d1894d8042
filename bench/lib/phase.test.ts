import { describe, expect, it } from 'vitest';
import { subtractStats, windowRates } from './phase.ts';

describe('windowRates', () => {
  // Completions every 100 ms from t = 1000 ms: 10 orders/s.
  const times = Array.from({ length: 25 }, (_, i) => 1000 + 100 * (i + 1));

  it('measures windows of completions after the skipped ones, each from the completion before it', () => {
    const windows = windowRates(times, 5, 10, 1000);
    expect(windows).toEqual([
      { fromOrder: 1, toOrder: 10, seconds: 1, ordersPerSec: 10 },
      { fromOrder: 11, toOrder: 20, seconds: 1, ordersPerSec: 10 },
    ]);
  });

  it('starts the first window at the start time when nothing is skipped', () => {
    const [first] = windowRates([1500, 2000], 0, 2, 1000);
    expect(first).toEqual({ fromOrder: 1, toOrder: 2, seconds: 1, ordersPerSec: 2 });
  });

  it('leaves out a window that is not full', () => {
    expect(windowRates(times, 20, 10, 1000)).toEqual([]);
  });
});

describe('subtractStats', () => {
  it('subtracts every counter but keeps the memory size', () => {
    const before = { a: { memoryMb: 512, invocations: 2 }, b: 3 };
    const after = { a: { memoryMb: 512, invocations: 7 }, b: 10 };
    expect(subtractStats(after, before)).toEqual({ a: { memoryMb: 512, invocations: 5 }, b: 7 });
  });
});
