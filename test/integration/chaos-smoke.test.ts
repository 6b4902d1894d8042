/**
 * A short fault run (`npm run chaos -- --scenario poison`) on the integration run's broker and
 * DynamoDB endpoint: poison records injected among real orders must all reach the DeadLetterQueue while
 * every order ships once. The full fault runs (broker and runtime kills, replay) are not part of the tests.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { ScenarioResult } from '../../bench/chaos.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { testInfra } from '../support/env.ts';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'chaos-smoke-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm run chaos -- --scenario poison (smoke: 20 orders)', () => {
  it('dead-letters every poison record without losing or duplicating an order', async () => {
    const { kafkaBrokers, dynamodbEndpoint } = testInfra();
    const out = join(dir, 'chaos.json');
    await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/chaos.ts',
        '--scenario',
        'poison',
        '--orders',
        '20',
        '--rate',
        '5',
        '--out',
        out,
      ],
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
    const result = JSON.parse(await readFile(out, 'utf8')) as { pass: boolean; scenarios: ScenarioResult[] };
    const [poison] = result.scenarios;
    expect(result.pass).toBe(true);
    expect(poison).toMatchObject({
      scenario: 'poison',
      pass: true,
      sent: 20,
      accepted: 20,
      completed: 20,
      lost: 0,
      duplicateNotifications: 0,
      doubleReservedUnits: 0,
      stockMismatches: 0,
    });
    // One per consumed topic at least, and every one of them in the DeadLetterQueue as poison.
    expect(poison?.poison?.injected).toBeGreaterThanOrEqual(4);
    expect(poison?.poison?.inDeadLetterQueue).toBe(poison?.poison?.injected);
    expect(poison?.deadLettered.poison).toBe(poison?.poison?.injected);
    expect(poison?.orderStatuses).toEqual({ SHIPPED: 20 });
  }, 300_000);
});
