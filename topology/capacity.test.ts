import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BENCH, formatRate, hopCapacities, hopCapacity, limits, tableCapacities } from './capacity.ts';
import { flashSaleEstimate } from './contention.ts';
import { manifest } from './manifest.ts';

const doc = readFileSync(new URL('../docs/capacity.md', import.meta.url), 'utf8');
/** The cells of the doc's table rows, trimmed, one array per row. */
const rows = doc
  .split('\n')
  .filter((line) => line.startsWith('| ') && !line.startsWith('| ---'))
  .map((line) =>
    line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim()),
  );
const rowStarting = (...cells: string[]) =>
  rows.find((row) => cells.every((cell, index) => row[index] === cell));
const fixed = (n: number) => n.toFixed(2);

describe('the capacity model', () => {
  it('a hop carries partitions × batch ÷ full-batch time ÷ records per order', () => {
    const hop = hopCapacity('notification');
    expect(hop.partitions).toBe(manifest.topics.Notification.partitions);
    expect(hop.fullBatchOrdersPerSecond).toBeCloseTo(
      (hop.partitions * hop.batchSize * 1000) / hop.fullBatchMs / BENCH.recordsPerOrder.Notification,
      8,
    );
    // Two records per order: half of a one-record-per-order hop with the same batch time.
    expect(hop.fullBatchOrdersPerSecond).toBeCloseTo(
      hopCapacity('inventory').fullBatchOrdersPerSecond / 2,
      8,
    );
  });

  it('a table carries its units per second ÷ its units per order', () => {
    const orders = tableCapacities().find((table) => table.table === 'orders');
    expect(orders?.newTableOrdersPerSecond).toBeCloseTo(4000 / 7, 8);
    expect(orders?.quotaOrdersPerSecond).toBeCloseTo(40_000 / 7, 8);
  });

  it('limits come lowest first; the first is the brokers storage, the first per-second one the stage', () => {
    const all = limits();
    expect(all.map((limit) => limit.ordersPerSecond)).toEqual(
      [...all.map((limit) => limit.ordersPerSecond)].sort((a, b) => a - b),
    );
    expect(all[0]?.kind).toBe('sustained');
    expect(all.find((limit) => limit.kind === 'rate')?.name).toMatch(/API stage/);
  });

  it('a slower transaction lowers only the SKU', () => {
    const sku = (ms: number) =>
      limits({ transactionMs: ms }).find((limit) => limit.name.startsWith('one SKU'));
    expect(sku(10)?.ordersPerSecond).toBeLessThan(sku(5)?.ordersPerSecond ?? 0);
  });
});

describe('docs/capacity.md matches the model', () => {
  it.each(limits().map((limit) => [limit.name, limit] as const))('limit row: %s', (name, limit) => {
    expect(rowStarting(name, formatRate(limit.ordersPerSecond), limit.kind, limit.past)).toBeDefined();
  });

  it.each(hopCapacities().map((hop) => [hop.fn, hop] as const))('hop row: %s', (fn, hop) => {
    expect(
      rowStarting(
        fn,
        hop.topic,
        String(hop.partitions),
        String(hop.batchSize),
        formatRate(hop.fullBatchMs),
        formatRate(hop.oneRecordOrdersPerSecond),
        formatRate(hop.fullBatchOrdersPerSecond),
      ),
    ).toBeDefined();
  });

  it.each(tableCapacities().map((table) => [table.table, table] as const))('table row: %s', (name, table) => {
    expect(
      rowStarting(
        name,
        String(table.writeUnitsPerOrder),
        String(table.readUnitsPerOrder),
        formatRate(table.newTableOrdersPerSecond),
        formatRate(table.quotaOrdersPerSecond),
      ),
    ).toBeDefined();
  });

  it.each([2, 5, 10, 20])('flash sale at τ = %i ms', (ms) => {
    const sale = flashSaleEstimate({ transactionMs: ms });
    expect(
      rowStarting(
        String(ms),
        formatRate(sale.ceiling),
        fixed(sale.conflictProbability),
        fixed(sale.throttleProbability),
        formatRate(sale.expectedAttempts),
        sale.saturated ? 'yes' : 'no',
        fixed(sale.redoneProbability),
        sale.exhaustedProbability.toExponential(1),
      ),
    ).toBeDefined();
  });

  it.each([1, 2, 4, 8].flatMap((buckets) => [5, 10].map((ms) => [buckets, ms])))(
    '%i stock buckets at τ = %i ms',
    (buckets, ms) => {
      const bucket = flashSaleEstimate({ transactionMs: ms, buckets });
      expect(
        rowStarting(
          String(buckets),
          String(ms),
          formatRate(100 / buckets),
          formatRate(bucket.ceiling * buckets),
          fixed(bucket.conflictProbability),
          fixed(bucket.throttleProbability),
          formatRate(bucket.expectedAttempts),
        ),
      ).toBeDefined();
    },
  );
});
