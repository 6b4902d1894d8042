import { describe, expect, it } from 'vitest';
import { cpuUsage, sampleCpu } from './cpu.ts';

describe('CPU of the stack processes', () => {
  it.runIf(process.platform === 'linux')(
    'reads a live process from /proc, and leaves out one that is gone',
    () => {
      const sample = sampleCpu({ self: process.pid, gone: 2 ** 22 + 12345 });
      expect(sample.ms.self).toBeGreaterThan(0);
      expect(sample.ms).not.toHaveProperty('gone');
    },
  );

  it('divides each process delta by the orders, and by the wall time for the cores', () => {
    const usage = cpuUsage(
      { at: 0, ms: { runtime: 1_000, kafka: 500 }, driverMs: 10 },
      { at: 2_000, ms: { runtime: 3_000, kafka: 900, sns: 50 }, driverMs: 110 },
      100,
    );
    expect(usage).toEqual({
      seconds: 2,
      perOrderMs: { runtime: 20, kafka: 4 },
      totalPerOrderMs: 24,
      cores: { runtime: 1, kafka: 0.2 },
      driverPerOrderMs: 1,
    });
  });
});
