import { describe, expect, it } from 'vitest';
import { median, percentile, summarize } from './stats.ts';

describe('latency summaries', () => {
  it('takes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted samples in order p50 <= p90 <= p99 <= max', () => {
    const summary = summarize([30, 10, 20, 40, 1000]);
    expect(summary).toMatchObject({ count: 5, p50Ms: 30, p90Ms: 1000, maxMs: 1000, meanMs: 220 });
    expect(median([3, 1, 2])).toBe(2);
  });
});
