/**
 * A short `npm run bench` on the integration run's broker and DynamoDB endpoint, so the bench does not
 * rot. It checks that the run completes and that its JSON is consistent; it never asserts timings
 * (the machine is shared: figures are printed by the real bench, not judged here).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/run.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { testInfra } from '../support/env.ts';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm run bench (smoke: 20 orders)', () => {
  it('drives orders through the pipeline and the baseline and writes sane figures', async () => {
    const { kafkaBrokers, dynamodbEndpoint } = testInfra();
    const out = join(dir, 'latest.json');
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--orders', '20', '--rate', '10', '--warmup', '2', '--out', out],
      {
        cwd: projectRoot,
        env: {
          ...process.env,
          [RuntimeEnv.kafkaBrokers]: kafkaBrokers.join(','),
          [RuntimeEnv.dynamodbEndpoint]: dynamodbEndpoint,
        },
        timeout: 280_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    expect(stdout).toContain('ratio pipeline/baseline');
    expect(stdout).toContain('Cost per million orders');

    const result = JSON.parse(await readFile(out, 'utf8')) as BenchResult;
    for (const phase of [result.pipeline, result.baseline]) {
      expect(phase).not.toBeNull();
      if (!phase) continue;
      expect(phase).toMatchObject({ sent: 20, accepted: 20, completed: 20, missing: 0, failed: 0 });
      expect(phase.p50Ms).toBeGreaterThan(0);
      expect(phase.p50Ms).toBeLessThanOrEqual(phase.p90Ms);
      expect(phase.p90Ms).toBeLessThanOrEqual(phase.p99Ms);
      expect(phase.p99Ms).toBeLessThanOrEqual(phase.maxMs);
      expect(phase.ordersPerSec).toBeGreaterThan(0);
    }
    expect(result.ratio).toEqual({
      p50Ms: expect.any(Number),
      p99Ms: expect.any(Number),
      ordersPerSec: expect.any(Number),
    });
    expect(result.pipeline.repeatedNotifications).toBe(0);

    // Every order went through each function exactly once, and each POST was one API request.
    const fns = result.pipeline.functions;
    expect(fns['order-api']?.records).toBe(20);
    expect(fns.inventory?.records).toBe(20);
    expect(fns.warehouse?.records).toBe(20);
    expect(fns.shipper?.records).toBe(20);
    // confirmed, packed, shipped.
    expect(fns.notification?.records).toBe(60);

    const usage = result.cost.usagePerOrder;
    expect(usage.apiRequests).toBe(1);
    expect(usage.kafkaRecordsProduced).toBeGreaterThanOrEqual(6);
    expect(usage.dynamodbWriteUnits).toBeGreaterThan(0);
    expect(usage.lambdaGbSeconds).toBeGreaterThan(0);
    expect(result.cost.costPerMillionOrders.total).toBeGreaterThan(0);
    expect(result.cost.prices.region).toBe('us-east-1');

    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.node).toMatch(/^v\d+/);
    expect(result.machine.kafkaVersion).toBeTruthy();
    expect(result.command).toContain('npm run bench');
  }, 300_000);
});
