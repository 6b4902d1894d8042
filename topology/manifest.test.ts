import { describe, expect, it } from 'vitest';
import { topicNames } from '../events/topics.ts';
import { manifest } from './manifest.ts';
import type { Manifest } from './types.ts';
import { ManifestError, validateManifest } from './validate.ts';

const clone = (): Manifest => structuredClone(manifest) as unknown as Manifest;

describe('topology manifest', () => {
  it('declares exactly the seed topics', () => {
    expect(Object.keys(manifest.topics).sort()).toEqual([...topicNames].sort());
  });

  it('wires the pipeline as the design says', () => {
    const triggers = Object.fromEntries(
      Object.entries(manifest.functions).map(([name, fn]) => [
        name,
        fn.trigger.kind === 'kafka' ? fn.trigger.topic : fn.trigger.kind,
      ]),
    );
    expect(triggers).toEqual({
      'order-api': 'http',
      inventory: 'OrderReceived',
      'inventory-release': 'OrderCancelled',
      warehouse: 'OrderConfirmed',
      shipper: 'OrderPickedAndPacked',
      notification: 'Notification',
      kpis: 'KPIs',
      'outbox-sweeper': 'schedule',
    });
  });

  it('indexes the orders waiting for inventory (the outbox) by shard and placement time', () => {
    expect(manifest.tables.orders.indexes.outbox).toEqual({
      partitionKey: { name: 'outboxShard', type: 'S' },
      sortKey: { name: 'placedAt', type: 'S' },
      projection: 'all',
    });
    expect(manifest.functions['outbox-sweeper']).toMatchObject({
      trigger: { kind: 'schedule', rateMinutes: 1 },
      produces: ['OrderReceived', 'OrderCancelled'],
      tables: { orders: 'readwrite' },
    });
  });

  it('refuses an index whose key types disagree with the table, or whose name DynamoDB refuses', () => {
    const m = clone();
    (m.tables as Record<string, unknown>).orders = {
      partitionKey: { name: 'orderId', type: 'S' },
      indexes: {
        ok: { partitionKey: { name: 'orderId', type: 'N' }, projection: 'all' },
        'no spaces': { partitionKey: { name: 'shard', type: 'S' }, projection: 'keys-only' },
      },
    };
    try {
      validateManifest(m);
      expect.unreachable();
    } catch (error) {
      expect((error as ManifestError).problems).toEqual([
        'table orders: index name "ok" must be 3..255 of A-Z a-z 0-9 _ . -',
        'table orders: index ok key orderId is N, elsewhere S',
        'table orders: index name "no spaces" must be 3..255 of A-Z a-z 0-9 _ . -',
      ]);
    }
  });

  it('refuses a schedule EventBridge cannot run', () => {
    for (const rateMinutes of [0, 0.5, 1441]) {
      const m = clone();
      (m.functions['outbox-sweeper']!.trigger as { rateMinutes: number }).rateMinutes = rateMinutes;
      expect(() => validateManifest(m)).toThrow(/outbox-sweeper: rateMinutes must be an integer 1\.\.1440/);
    }
  });

  it('refuses a route declared twice or a resource that is not a path', () => {
    const m = clone();
    const trigger = m.functions['order-api']!.trigger as unknown as {
      routes: { method: string; resource: string; auth: string }[];
    };
    trigger.routes.push(
      { method: 'GET', resource: '/health', auth: 'none' },
      { method: 'GET', resource: 'orders', auth: 'iam' },
    );
    expect(() => validateManifest(m)).toThrow(
      /route GET \/health is declared twice[\s\S]*"orders" is not a path/,
    );
  });

  it('refuses a trigger topic that does not exist', () => {
    const m = clone();
    (m.functions.inventory!.trigger as { topic: string }).topic = 'Nope';
    expect(() => validateManifest(m)).toThrow(/trigger topic Nope is not declared/);
  });

  it('refuses an on-failure destination equal to the source topic', () => {
    const m = clone();
    (m.functions.warehouse!.trigger as { onFailure: string }).onFailure = 'OrderConfirmed';
    expect(() => validateManifest(m)).toThrow(/must differ from its trigger topic OrderConfirmed/);
  });

  it('refuses names that collide and out-of-range mapping settings, listing every problem', () => {
    const m = clone();
    (m.tables as Record<string, unknown>).Inventory = m.tables.inventory;
    (m.functions.shipper!.trigger as { batchSize: number }).batchSize = 0;
    (m.functions.shipper!.trigger as { maximumBatchingWindowSeconds: number }).maximumBatchingWindowSeconds =
      0.5;
    try {
      validateManifest(m);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ManifestError);
      const problems = (error as ManifestError).problems;
      expect(problems).toHaveLength(3);
      expect(problems.join('\n')).toMatch(
        /"inventory" collides with "Inventory"|"Inventory" collides with "inventory"/,
      );
    }
  });

  it('gives every Kafka consumer the error-handling controls the stack deploys and the emulator runs', () => {
    for (const [name, fn] of Object.entries(manifest.functions)) {
      if (fn.trigger.kind !== 'kafka') continue;
      expect(fn.trigger, name).toMatchObject({
        bisectBatchOnFunctionError: true,
        reportBatchItemFailures: true,
        maximumRecordAgeSeconds: -1,
        metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'],
        systemLogLevel: 'WARN',
      });
    }
  });

  const problemsOf = (edit: (trigger: Record<string, unknown>, fn: Record<string, unknown>) => void) => {
    const m = clone();
    const fn = m.functions.warehouse as unknown as Record<string, unknown>;
    edit(fn.trigger as Record<string, unknown>, fn);
    try {
      validateManifest(m);
    } catch (error) {
      return (error as ManifestError).problems;
    }
    return [];
  };

  it.each([
    [-1, true],
    [60, true],
    [604_800, true],
    [0, false],
    [-2, false],
    [59, false],
    [604_801, false],
    [90.5, false],
  ])('accepts maximumRecordAgeSeconds %s: %s (AWS: -1 or 60..604800)', (age, ok) => {
    const problems = problemsOf((t) => {
      t.maximumRecordAgeSeconds = age;
    });
    expect(problems).toEqual(
      ok
        ? []
        : [
            `function warehouse: maximumRecordAgeSeconds must be -1 (never) or an integer 60..604800, got ${age}`,
          ],
    );
  });

  it('refuses metrics, log levels and flags the event source mapping API does not take', () => {
    expect(
      problemsOf((t) => {
        t.metrics = ['EventCount', 'OffsetLag', 'EventCount'];
        t.systemLogLevel = 'ERROR';
        t.bisectBatchOnFunctionError = 'yes';
        t.reportBatchItemFailures = undefined;
      }),
    ).toEqual([
      'function warehouse: bisectBatchOnFunctionError must be true or false',
      'function warehouse: reportBatchItemFailures must be true or false',
      'function warehouse: metrics must be among EventCount, ErrorCount, KafkaMetrics, got OffsetLag',
      'function warehouse: metrics lists one twice',
      'function warehouse: systemLogLevel must be one of DEBUG, INFO, WARN',
    ]);
  });

  it('refuses metrics without EventCount, which the dead-letter alarm reads', () => {
    expect(
      problemsOf((t) => {
        t.metrics = ['ErrorCount'];
      }),
    ).toEqual(['function warehouse: metrics must include EventCount (the dead-letter alarm reads it)']);
  });

  it('refuses a local concurrency limit that is not a positive integer up to 1000', () => {
    for (const maxConcurrency of [0, 1.5, 1001, undefined]) {
      expect(
        problemsOf((_, fn) => {
          fn.maxConcurrency = maxConcurrency;
        }),
      ).toEqual(['function warehouse: maxConcurrency must be an integer 1..1000']);
    }
  });

  it('refuses a function that uses an undeclared table or topic', () => {
    const m = clone();
    (m.functions.notification!.tables as Record<string, string>).ghosts = 'read';
    (m.functions.notification!.produces as string[]).push('Ghosts');
    expect(() => validateManifest(m)).toThrow(/unknown table ghosts[\s\S]*|unknown topic Ghosts/);
  });
});
