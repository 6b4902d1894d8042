/**
 * `npm run invoke` against the test infra: the real handlers, once each, with the checked-in samples; the
 * result on stdout (JSON), the function's logs on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { provisionFromManifest } from '../../local/infra/index.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { seedDemoInventory } from '../../local/runtime/seed.ts';
import { uniqueName } from '../e2e/support/kafka.ts';
import { testInfra } from '../support/env.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function invoke(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/invoke/cli.ts', ...args], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run invoke (real Kafka, dynoxide, moto SNS)', () => {
  const { kafkaBrokers, dynamodbEndpoint, snsEndpoint } = testInfra();
  const env = { KAFKA_BROKERS: kafkaBrokers.join(','), DYNAMODB_ENDPOINT: dynamodbEndpoint };

  it('runs order-api with post-orders, then inventory with order-received: results on stdout, logs on stderr', async () => {
    const tablePrefix = uniqueName('invoke');
    await provisionFromManifest({ kafkaBrokers, dynamodbEndpoint, snsEndpoint, tablePrefix, log: () => {} });
    await seedDemoInventory(dynamodbEndpoint, tablePrefix);

    const posted = await invoke(env, 'order-api', 'post-orders', '--table-prefix', tablePrefix);
    expect(posted.code, posted.stderr).toBe(0);
    const answer = JSON.parse(posted.stdout) as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'RECEIVED' });
    expect(posted.stderr).toContain('START order-api with sample post-orders');
    expect(posted.stderr).toMatch(/REPORT RequestId: \S+ {2}Duration: /);

    // A Kafka-triggered one, with an MSK event; its Powertools logs are JSON lines on stderr.
    const consumed = await invoke(env, 'inventory', '--table-prefix', tablePrefix);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(JSON.parse(consumed.stdout)).toMatchObject({ processed: expect.any(Number) });
    expect(consumed.stderr).toContain('"service":"inventory"');
  });

  it('exits 1 with the error when the handler throws (an event file it cannot take)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'order-pipeline-invoke-'));
    const file = join(dir, 'null-event.json');
    await writeFile(file, 'null\n');
    const run = await invoke(env, 'inventory', file).finally(() => rm(dir, { recursive: true, force: true }));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('"errorType": "TypeError"');
  });
});
