/**
 * `npm run invoke` against the test infra: the real handlers, once each, with the checked-in samples; the
 * result on stdout (JSON), the function's logs on stderr.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { provisionFromManifest } from '../../local/infra/index.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { seedDemoInventory } from '../../local/runtime/seed.ts';
import { testInfra } from '../support/env.ts';
import { uniqueName } from '../support/kafka.ts';

/** Records on a topic, across its partitions (nothing here trims or writes transactionally). */
async function recordCount(topic: string): Promise<bigint> {
  const consumer = new Consumer({
    groupId: `probe-${randomUUID()}`,
    clientId: 'test-probe',
    bootstrapBrokers: testInfra().kafkaBrokers,
  });
  try {
    const [starts, ends] = await Promise.all(
      ([-2n, -1n] as const).map(
        async (timestamp) => (await consumer.listOffsets({ topics: [topic], timestamp })).get(topic) ?? [],
      ),
    );
    return (ends ?? []).reduce((sum, end, p) => sum + end - (starts?.[p] ?? 0n), 0n);
  } finally {
    await consumer.close(true);
  }
}

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
    await provisionFromManifest({ kafkaBrokers, dynamodbEndpoint, snsEndpoint, tablePrefix });
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
    // A partial batch response with nothing to retry: every record processed.
    expect(JSON.parse(consumed.stdout)).toEqual({ batchItemFailures: [] });
    expect(consumed.stderr).toContain('"service":"inventory"');
  });

  it('exits 1 when a record failed: the partial batch response names it, the mapping would retry it', async () => {
    // A well-formed OrderReceived batch, and a table prefix whose tables do not exist: the record fails.
    const run = await invoke(env, 'inventory', 'order-received', '--table-prefix', uniqueName('missing'));
    expect(run.code).toBe(1);
    const answer = JSON.parse(run.stdout) as { batchItemFailures: { itemIdentifier: unknown }[] };
    expect(answer.batchItemFailures).toEqual([
      {
        itemIdentifier: {
          partition: expect.stringMatching(/^OrderReceived-\d+$/),
          offset: expect.any(Number),
        },
      },
    ]);
    expect(run.stderr).toContain('reported 1 failed record(s) (batchItemFailures)');
  });

  it('exits 1 with the error when the handler throws', async () => {
    // The outbox sweeper, whose tables do not exist: its run fails as a whole.
    const run = await invoke(env, 'outbox-sweeper', '--table-prefix', uniqueName('missing'));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('"errorType"');
  });

  it("refuses with exit 2 any event the function's trigger could not deliver, and writes nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'order-pipeline-invoke-'));
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      return writeFile(path, text).then(() => path);
    };
    const before = await recordCount('DeadLetterQueue');
    try {
      // The rules are unit-tested (local/invoke/cli.test.ts); these show the CLI applies them.
      const cases: Array<[string, string, RegExp]> = [
        [
          'inventory',
          await file('null.json', 'null\n'),
          /null\.json is not an event of inventory's trigger: not an MSK event/,
        ],
        ['order-api', await file('empty.json', '{}'), /not an API Gateway proxy event/],
        // Another function's event, by sample name: OrderCancelled is inventory-release's topic.
        [
          'inventory',
          'order-cancelled',
          /a record of OrderCancelled, and the function consumes only OrderReceived/,
        ],
      ];
      for (const [fn, event, message] of cases) {
        const run = await invoke(env, fn, event);
        expect(run.code, `${fn} ${event}: ${run.stderr}`).toBe(2);
        expect(run.stdout).toBe('');
        expect(run.stderr).toMatch(message);
        expect(run.stderr).not.toContain('START');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(await recordCount('DeadLetterQueue')).toBe(before);
  });

  it('refuses bad options with exit 2: an empty table prefix, an option given twice', async () => {
    for (const args of [
      ['--table-prefix', ''],
      ['--table-prefix', 'x', '--table-prefix', 'y'],
    ]) {
      const run = await invoke(env, 'order-api', 'get-health', ...args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain('usage: npm run invoke');
      expect(run.stderr).not.toContain('START');
    }
  });
});
