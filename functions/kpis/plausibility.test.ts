import { describe, expect, it } from 'vitest';
import type { StepName } from '../../events/envelope.ts';
import { KpiName, type KpiRecorded } from '../../events/schemas/events.ts';
import { manifest } from '../../topology/manifest.ts';
import { implausibility, METRIC_OWNERS, recordsPerInvocation } from './plausibility.ts';

type Metric = KpiRecorded['data']['metrics'][number];

function record(
  step: StepName,
  metrics: Metric[],
  orderIds: string[] = [],
  source: StepName = step,
): KpiRecorded {
  return {
    eventId: '00000000-0000-4000-8000-000000000001',
    eventType: 'KpiRecorded',
    version: 1,
    occurredAt: '2026-11-24T10:00:00.000Z',
    correlationId: step,
    causationId: `${step}|1`,
    source,
    data: { step, metrics, orderIds },
  };
}

const counted = (name: KpiName, values: number[]): Metric => ({ name, unit: 'Count', values });
const timed = (values: number[]): Metric => ({ name: 'StepLatency', unit: 'Milliseconds', values });

describe('KPIs record plausibility', () => {
  it("accepts what each step's invocation measures", () => {
    expect(implausibility(record('order-api', [counted('OrdersReceived', [1]), timed([12])], ['o-1']))).toBe(
      undefined,
    );
    expect(implausibility(record('order-api', [counted('OrdersCancelled', [1])], ['o-1']))).toBe(undefined);
    const batch = Array.from({ length: 100 }, (_, i) => `o-${i}`);
    expect(
      implausibility(
        record(
          'shipper',
          [
            counted(
              'OrdersShipped',
              batch.map(() => 1),
            ),
            timed([5]),
          ],
          batch,
        ),
      ),
    ).toBe(undefined);
    expect(
      implausibility(record('inventory-release', [counted('StockReleased', [3, 100_000])], ['a', 'b'])),
    ).toBe(undefined);
    expect(implausibility(record('warehouse', [counted('RecordsDeadLettered', [1, 1])]))).toBe(undefined);
  });

  it('gives every count exactly one owning step, and only steps that produce KPIs report', () => {
    for (const name of KpiName.options) {
      const owners = METRIC_OWNERS[name];
      expect(owners.length, name).toBeGreaterThan(0);
      for (const step of owners) expect(recordsPerInvocation(step), `${name} by ${step}`).toBeDefined();
      if (name.startsWith('Orders') || name === 'StockReleased' || name === 'NotificationsDelivered')
        expect(owners, name).toHaveLength(1);
    }
    // The kpis function reads the topic (and would read its own records back); the sweeper measures nothing.
    expect(recordsPerInvocation('kpis')).toBeUndefined();
    expect(recordsPerInvocation('esm')).toBeUndefined();
    expect(recordsPerInvocation('order-api')).toBe(1);
    expect(recordsPerInvocation('inventory')).toBe(manifest.functions.inventory.trigger.batchSize);
  });

  it.each([
    [
      'a cancellation counted by inventory-release (order-api owns it)',
      record('inventory-release', [counted('OrdersCancelled', [1])], ['o-1']),
      /inventory-release does not report OrdersCancelled/,
    ],
    [
      "a source that is not the record's step",
      record('shipper', [counted('OrdersShipped', [1])], ['o-1'], 'order-api'),
      /source order-api is not the reporting step shipper/,
    ],
    ['a step that reports no KPIs', record('kpis', [counted('OrdersShipped', [1])]), /kpis reports no KPIs/],
    [
      '10,000 shipments of 1e12 each',
      record('shipper', [
        counted(
          'OrdersShipped',
          Array.from({ length: 10_000 }, () => 1e12),
        ),
      ]),
      /OrdersShipped has 10000 values/,
    ],
    [
      'one shipment counted as 1e12',
      record('shipper', [counted('OrdersShipped', [1e12])], ['o-1']),
      /whole numbers 1\.\.1/,
    ],
    ['a fractional count', record('shipper', [counted('OrdersShipped', [0.5])]), /whole numbers/],
    ['a latency given as a count', record('shipper', [counted('StepLatency', [1])]), /in Milliseconds/],
    [
      'more stock released than an order can hold',
      record('inventory-release', [counted('StockReleased', [100_001])]),
      /StockReleased counts must be whole numbers 1\.\.100000/,
    ],
    [
      'one metric listed twice',
      record('shipper', [counted('OrdersShipped', [1]), counted('OrdersShipped', [1])]),
      /listed twice/,
    ],
    [
      'one order named 10,000 times',
      record(
        'shipper',
        [counted('OrdersShipped', [1])],
        Array.from({ length: 10_000 }, () => 'o-1'),
      ),
      /an order is listed twice/,
    ],
    [
      'more orders than an invocation handles',
      record('order-api', [counted('OrdersReceived', [1])], ['o-1', 'o-2']),
      /2 orders, more than the 1 record/,
    ],
  ])('refuses %s', (_, candidate, reason) => {
    expect(implausibility(candidate)).toMatch(reason);
  });
});
