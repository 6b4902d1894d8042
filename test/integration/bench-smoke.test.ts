/**
 * A short `npm run bench` on the integration run's broker and DynamoDB endpoint, so the bench does not
 * rot. It checks that every order of every phase finished and that the JSON has every figure, as a
 * finite number; it never asserts timings (the machine is shared: figures are printed by the real
 * bench, not judged here).
 */
import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/run.ts';
import { runBenchScript } from '../support/bench.ts';

/** The value at a dotted path of `value`. */
const at = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);

describe('npm run bench (smoke: 20 orders per phase)', () => {
  it('runs the latency and throughput phases to the end and writes every figure', async () => {
    // The flash sale has its own smoke run (chaos-aws-smoke.test.ts).
    const args = ['--orders', '20', '--rate', '10', '--concurrency', '8', '--warmup', '2', '--no-flash-sale'];
    const { stdout, result } = await runBenchScript<BenchResult>('bench/run.ts', args, {
      timeoutMs: 280_000,
    });
    expect(stdout).toContain('ratio pipeline/baseline');
    expect(stdout).toContain('Cost per million orders');

    const keys = [
      'latency.rate',
      ...['pipeline', 'baseline'].flatMap((s) => ['p50Ms', 'p90Ms', 'p99Ms'].map((p) => `latency.${s}.${p}`)),
      'latency.ratio.p50',
      'latency.ratio.p99',
      'throughput.pipeline.ordersPerSec',
      ...['dynamodbCalls', 'wru', 'rru', 'kafkaRecords', 'kafkaBytes', 'lambdaInvocations'].flatMap((k) => [
        `perOrder.${k}`,
        `perOrderLatencyPhase.${k}`,
      ]),
      'perOrder.lambdaGbSeconds',
      'perOrder.lambdaInitGbSeconds',
      // CPU of the process running the functions (the endpoints here are the integration run's, not the bench's).
      'cpu.pipelineLatencyPhase.perOrderMs.runtime',
      'cpu.pipelineThroughputPhase.perOrderMs.runtime',
      'cpu.baselineLatencyPhase.perOrderMs.runtime',
      'costPerMillionOrdersUsd',
      'cost.fixedPerMonthUsd.mskBrokerHours',
      'cost.fixedPerMonthUsd.eventPollerUnits',
    ];
    for (const key of keys) {
      const value = at(result, key);
      expect(typeof value === 'number' && Number.isFinite(value), `${key} = ${value}`).toBe(true);
    }
    expect(result.latency.rate).toBe(10);
    expect(result.perOrder.phase).toBe('throughput');
    expect(result.perOrderLatencyPhase.phase).toBe('latency');

    // Every order of every phase finished, once.
    expect(result.allFinished).toBe(true);
    for (const phase of [result.latency.pipeline, result.latency.baseline]) {
      expect(phase).toMatchObject({ sent: 20, accepted: 20, completed: 20, missing: 0, failed: 0 });
    }
    expect(result.latency.pipeline.repeatedCompletions).toBe(0);
    expect(result.throughput.pipeline).toMatchObject({ sent: 20, completed: 20, missing: 0, failed: 0 });
    // The throughput phase's counters cover its warm-up (8), measured (20) and cool-down (8) orders.
    expect(result.perOrder.orders).toBe(36);
    expect(result.perOrderLatencyPhase.orders).toBe(20);

    // Each order went once through each step, and each POST was one API request.
    const fns = result.perOrderLatencyPhase.byFunction;
    for (const fn of ['order-api', 'inventory', 'warehouse', 'shipper']) {
      const f = fns[fn];
      expect((f?.invocationsPerOrder ?? 0) * (f?.recordsPerInvocation ?? 0), fn).toBeCloseTo(1, 2);
    }
    expect(result.perOrderLatencyPhase.apiRequests).toBe(1);
    expect(result.perOrder.apiRequests).toBe(1);
    expect(result.perOrder.kafkaRecords).toBeGreaterThanOrEqual(4);
    // Counted inside the functions' execution environments (bench/lib/environment-probe.ts).
    expect(result.perOrder.wru).toBeGreaterThan(0);
    expect(result.perOrderLatencyPhase.snsPublishes).toBeGreaterThanOrEqual(2);
    expect(result.perOrder.lambdaGbSeconds).toBeGreaterThan(0);
    expect(result.costPerMillionOrdersUsd).toBeGreaterThan(0);
    expect(result.cost.prices.region).toBe('us-east-1');

    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.commit.commit).toMatch(/^[0-9a-f]{7,}$|^unknown$/);
    expect(result.command).toContain('npm run bench');
  }, 300_000);
});
