/**
 * Watch mode (`npm start -- --watch`) on the test infra: the real handlers run, a change of a watched path
 * reloads them (fresh modules, the same consumer groups), and across the reload no record is processed
 * twice or lost: every record of every consumed topic is handled exactly once, and the groups' committed
 * offsets reach the ends of the topics. The watched path is a temporary directory of the test's, so the
 * project's files are never touched.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import type { MSKEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEnvironment } from '../../local/runtime/environment.ts';
import type { Invoker } from '../../local/runtime/lambda-context.ts';
import { type ReloadResult, startWatchedRuntime, type WatchedRuntime } from '../../local/runtime/watch.ts';
import {
  type FunctionName,
  isKafkaConsumer,
  kafkaConsumers,
  kafkaTriggerOf,
  manifest,
} from '../../topology/index.ts';
import { testInfra } from '../support/env.ts';
import { committedOffsets, uniqueName, waitFor } from '../support/kafka.ts';
import { e2eCatalog, orderBody, postOrder, Tables } from '../support/pipeline.ts';
import { prepareTestStack, testGroupIds, testRuntimeOptions } from '../support/runtime.ts';

const PIPELINE_TIMEOUT_MS = 90_000;
const kafkaFunctions = kafkaConsumers.map(({ name }) => name);
const topicOf = (fn: FunctionName): string => {
  const trigger = kafkaTriggerOf(fn);
  if (!trigger) throw new Error(`${fn} has no Kafka trigger`);
  return trigger.topic;
};

async function endOffsets(brokers: string[], topic: string): Promise<bigint[]> {
  const partitions = manifest.topics[topic as keyof typeof manifest.topics].partitions;
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers });
  try {
    const [listed] = await admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: partitions }, (_, i) => ({ partitionIndex: i, timestamp: -1n })),
        },
      ],
    });
    return (listed?.partitions ?? [])
      .sort((a, b) => a.partitionIndex - b.partitionIndex)
      .map((p) => p.offset);
  } finally {
    await admin.close();
  }
}

describe('watch mode (real Kafka, dynoxide, moto SNS, the real handlers)', () => {
  const { kafkaBrokers, dynamodbEndpoint } = testInfra();
  const tablePrefix = uniqueName('watch');
  const groupIdOf = testGroupIds('watch');
  const tables = new Tables(dynamodbEndpoint, tablePrefix);
  const log: string[] = [];
  /** Every record each function handled successfully, as `topic-partition@offset`. */
  const handled = new Map<FunctionName, string[]>();
  /** The environments' invoker of each generation, per function (a new pool, so freshly imported code). */
  const loaded = new Map<FunctionName, unknown[]>();
  const startOffsets = new Map<FunctionName, bigint[]>();
  const reloads: ReloadResult[] = [];
  let failNextLoad = false;
  let watchDir: string;
  let watched: WatchedRuntime;
  let restoreEnv: () => void;

  const wrapInvoker = (fn: FunctionName, invoke: Invoker): Invoker => {
    // As a module that throws at import would.
    if (failNextLoad) throw new Error('broken on purpose');
    loaded.set(fn, [...(loaded.get(fn) ?? []), invoke]);
    return async (event) => {
      const outcome = await invoke(event);
      if (outcome.status === 'ok' && isKafkaConsumer(fn)) {
        const records = Object.values((event as MSKEvent).records).flat();
        handled.set(fn, [
          ...(handled.get(fn) ?? []),
          ...records.map((r) => `${r.topic}-${r.partition}@${r.offset}`),
        ]);
      }
      return outcome;
    };
  };

  const shipped = async (orderId: string) => {
    await waitFor(
      async () => (await tables.order(orderId))?.status === 'SHIPPED',
      `order ${orderId} to ship`,
      PIPELINE_TIMEOUT_MS,
      200,
    );
  };

  beforeAll(async () => {
    restoreEnv = applyEnvironment({ POWERTOOLS_LOG_LEVEL: 'WARN' });
    watchDir = await mkdtemp(join(tmpdir(), 'order-pipeline-watch-'));
    await prepareTestStack({ tablePrefix, catalog: Object.values(e2eCatalog), groupIdOf });
    for (const fn of kafkaFunctions) startOffsets.set(fn, await endOffsets(kafkaBrokers, topicOf(fn)));
    watched = await startWatchedRuntime({
      ...testRuntimeOptions({ tablePrefix, groupIdOf }),
      wrapInvoker,
      scheduleIntervalMs: Number.POSITIVE_INFINITY,
      watchPaths: [watchDir],
      debounceMs: 50,
      onReload: (result) => reloads.push(result),
      log: (line) => log.push(line),
    });
  });

  afterAll(async () => {
    await watched?.stop();
    tables.close();
    await rm(watchDir, { recursive: true, force: true });
    restoreEnv?.();
  });

  it('reloads on a change, keeps the API URL, ships orders placed before and after, handles every record once', async () => {
    const apiUrl = watched.runtime?.apiUrl as string;
    expect(watched.generation).toBe(1);

    // An order in flight while the reload happens.
    const before = await postOrder(
      apiUrl,
      orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]),
      randomUUID(),
    );
    expect(before.status).toBe(202);
    await writeFile(join(watchDir, 'handler.ts'), 'export const version = 2;\n');
    await waitFor(() => reloads.length > 0, 'the reload', 60_000);
    const [reload] = reloads;
    expect(reload?.error).toBeUndefined();
    expect(reload).toMatchObject({ generation: 2 });
    expect(reload?.changed.map((file) => file.split(/[\\/]/).at(-1))).toEqual(['handler.ts']);
    expect(log.some((line) => line.includes('[watch] reloaded') && line.includes('generation 2'))).toBe(true);
    expect(watched.runtime?.apiUrl).toBe(apiUrl);

    // Fresh code: every function runs in new environments, which import it again.
    for (const fn of Object.keys(manifest.functions) as FunctionName[]) {
      const generations = loaded.get(fn) ?? [];
      expect(generations, fn).toHaveLength(2);
      expect(generations[1], fn).not.toBe(generations[0]);
    }

    const after = await postOrder(
      apiUrl,
      orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]),
      randomUUID(),
    );
    expect(after.status).toBe(202);
    await Promise.all([shipped(before.body.orderId as string), shipped(after.body.orderId as string)]);

    // Settled: every group has committed up to the end of its topic...
    await waitFor(
      async () => {
        for (const fn of kafkaFunctions) {
          const [committed, end] = await Promise.all([
            committedOffsets(kafkaBrokers, groupIdOf(fn), topicOf(fn)),
            endOffsets(kafkaBrokers, topicOf(fn)),
          ]);
          if (committed.length !== end.length || committed.some((offset, i) => offset !== end[i]))
            return false;
        }
        return true;
      },
      'every consumer group to commit up to the end of its topic',
      PIPELINE_TIMEOUT_MS,
      200,
    );
    // Both orders went through each step (the consumed topics hold at least their records).
    for (const fn of ['inventory', 'warehouse', 'shipper'] as const)
      expect((handled.get(fn) ?? []).length, fn).toBeGreaterThanOrEqual(2);
    // ...and every record from where the groups started to those ends was handled exactly once.
    for (const fn of kafkaFunctions) {
      const topic = topicOf(fn);
      const start = startOffsets.get(fn) ?? [];
      const end = await endOffsets(kafkaBrokers, topic);
      const expected = end.flatMap((last, partition) => {
        const first = start[partition] ?? 0n;
        return Array.from(
          { length: Number(last - first) },
          (_, i) => `${topic}-${partition}@${first + BigInt(i)}`,
        );
      });
      const seen = handled.get(fn) ?? [];
      expect(new Set(seen).size, `${fn}: a record handled twice`).toBe(seen.length);
      expect([...seen].sort(), `${fn}: records lost or foreign`).toEqual(expected.sort());
    }
  });

  it('keeps going after a reload that fails: the functions stay stopped until the next reload works', async () => {
    const apiUrl = watched.runtime?.apiUrl as string;
    failNextLoad = true;
    const failed = await watched.reload();
    failNextLoad = false;
    expect(failed.error?.message).toContain('broken on purpose');
    expect(watched.runtime).toBeUndefined();
    expect(log.some((line) => line.includes('[watch] reload failed'))).toBe(true);
    await expect(fetch(`${apiUrl}/health`)).rejects.toThrow();

    const fixed = await watched.reload(['functions/inventory/handler.ts']);
    expect(fixed.error).toBeUndefined();
    expect(watched.runtime?.apiUrl).toBe(apiUrl);
    expect((await fetch(`${apiUrl}/health`)).status).toBe(200);
    const order = await postOrder(
      apiUrl,
      orderBody([{ entry: e2eCatalog.plenty, quantity: 1 }]),
      randomUUID(),
    );
    await shipped(order.body.orderId as string);
  });
});
