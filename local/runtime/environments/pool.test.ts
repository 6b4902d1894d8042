import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvokeOutcome } from '../lambda-context.ts';
import { EnvironmentPool, type InvocationReport, type PoolOptions } from './pool.ts';

const pools: EnvironmentPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.stop()));
});

function pool(overrides: Partial<PoolOptions> = {}) {
  const lines: string[] = [];
  const reports: InvocationReport[] = [];
  const created = new EnvironmentPool({
    functionName: 'probe',
    entry: 'test/support/probe-function.ts',
    memoryMb: 128,
    timeoutSeconds: 3,
    maxConcurrency: 2,
    env: { ONLY_MINE: 'probe', AWS_LAMBDA_FUNCTION_NAME: 'probe' },
    log: (line) => lines.push(line),
    onReport: (report) => reports.push(report),
    ...overrides,
  });
  pools.push(created);
  return { pool: created, lines, reports };
}

const payload = (outcome: InvokeOutcome) => {
  if (outcome.status !== 'ok') throw new Error(`${outcome.errorType}: ${outcome.errorMessage}`);
  return outcome.payload as { env: Record<string, string>; loadedAt: number; invocations: number };
};

describe('execution environments', () => {
  it("give a function exactly its own variables, whatever this process's are", async () => {
    process.env.SOMETHING_OF_THE_RUNTIME = 'not for functions';
    const { pool: probe } = pool();
    const { env } = payload(await probe.invoke({ op: 'env' }));
    delete process.env.SOMETHING_OF_THE_RUNTIME;
    expect(env).toEqual({ ONLY_MINE: 'probe', AWS_LAMBDA_FUNCTION_NAME: 'probe' });
  });

  it('reuse a warm environment, and write START, END and REPORT lines (Init Duration on a cold start only)', async () => {
    const { pool: probe, lines, reports } = pool();
    const first = payload(await probe.invoke({ op: 'count' }));
    const second = payload(await probe.invoke({ op: 'count' }));
    expect(second).toEqual({ invocations: 2, loadedAt: first.loadedAt });
    expect(probe.stats).toMatchObject({ invocations: 2, coldStarts: 1, environments: 1 });
    expect(lines.filter((l) => l.startsWith('START RequestId: '))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('END RequestId: '))).toHaveLength(2);
    // Lambda's text format: tab-separated fields, Init Duration on the cold start only.
    const reportLines = lines.filter((l) => l.startsWith('REPORT'));
    const fields =
      /^REPORT RequestId: (\S+)\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: [1-9]\d* MB/;
    expect(reportLines).toHaveLength(2);
    for (const line of reportLines) expect(line).toMatch(fields);
    expect(Number(/\tInit Duration: ([\d.]+) ms$/.exec(reportLines[0] ?? '')?.[1])).toBeGreaterThan(0);
    expect(reportLines[1]).not.toContain('Init Duration');
    expect(reports.map((r) => r.requestId)).toEqual(reportLines.map((l) => fields.exec(l)?.[1]));
  });

  it('report a thrown error as a function error and keep the environment', async () => {
    const { pool: probe } = pool();
    const before = payload(await probe.invoke({ op: 'count' }));
    const failed = await probe.invoke({ op: 'throw' });
    expect(failed).toMatchObject({ status: 'error', kind: 'function', errorType: 'TypeError' });
    expect(payload(await probe.invoke({ op: 'count' })).loadedAt).toBe(before.loadedAt);
    expect(probe.stats.environmentsLost).toBe(0);
  });

  it.each([
    ['process.exit', { op: 'exit' }, { kind: 'crash', errorType: 'Runtime.ExitError' }],
    ['an uncaught exception from a timer', { op: 'timer-throw' }, { kind: 'crash', errorType: 'Error' }],
    ['running out of memory', { op: 'oom' }, { kind: 'out-of-memory', errorType: 'Runtime.OutOfMemory' }],
  ])(
    'lose only the invocation and its environment to %s; the next one gets a fresh environment',
    async (_, event, failure) => {
      const { pool: probe, reports } = pool({ timeoutSeconds: 20, memoryMb: 64 });
      const before = payload(await probe.invoke({ op: 'count' }));
      expect(await probe.invoke(event)).toMatchObject({ status: 'error', ...failure });
      expect(reports.at(-1)?.status).toBe(failure.kind);
      const after = payload(await probe.invoke({ op: 'count' }));
      expect(after.invocations).toBe(1);
      expect(after.loadedAt).toBeGreaterThanOrEqual(before.loadedAt);
      expect(probe.stats).toMatchObject({ environmentsLost: 1, coldStarts: 2 });
    },
  );

  it('discard a timed-out environment: what its invocation would have written later never happens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pool-timeout-'));
    try {
      const file = join(dir, 'late.txt');
      const { pool: probe } = pool({ timeoutSeconds: 0.3 });
      const outcome = await probe.invoke({ op: 'late-write', file, afterMs: 600 });
      expect(outcome).toMatchObject({ status: 'error', kind: 'timeout', errorType: 'Sandbox.Timedout' });
      // A fresh environment answers; past the moment the write was due, the file never appeared.
      payload(await probe.invoke({ op: 'count' }));
      await new Promise((resolve) => setTimeout(resolve, 600));
      await expect(access(file)).rejects.toThrow();
      expect(probe.stats.environmentsLost).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('run one invocation per environment, and no more environments than the concurrency limit', async () => {
    const { pool: probe } = pool({ maxConcurrency: 2 });
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => probe.invoke({ op: 'sleep', ms: 100 })),
    );
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(probe.stats.coldStarts).toBeLessThanOrEqual(2);
    // Each environment ran its invocations one after the other: its counts are 1..n, none shared.
    const byEnvironment = new Map<number, number[]>();
    for (const { loadedAt, invocations } of outcomes.map(payload)) {
      byEnvironment.set(loadedAt, [...(byEnvironment.get(loadedAt) ?? []), invocations]);
    }
    expect(byEnvironment.size).toBeLessThanOrEqual(2);
    for (const counts of byEnvironment.values()) {
      expect(counts.sort((a, b) => a - b)).toEqual(counts.map((_, i) => i + 1));
    }
  });

  it('fail an invocation whose function does not bundle, or whose init throws, with the reason', async () => {
    const { pool: missing } = pool({ entry: 'test/support/no-such-function.ts' });
    expect(await missing.invoke({ op: 'count' })).toMatchObject({
      status: 'error',
      kind: 'crash',
      errorType: 'Runtime.BundleError',
      errorMessage: expect.stringContaining('no-such-function'),
    });
    const { pool: failing } = pool({ entry: 'test/support/init-failing-function.ts' });
    expect(await failing.invoke({})).toMatchObject({
      status: 'error',
      errorType: 'Runtime.ImportModuleError: Error',
      errorMessage: 'REQUIRED_SETTING is not set',
    });
    expect(failing.stats.coldStarts).toBe(0);
  });
});
