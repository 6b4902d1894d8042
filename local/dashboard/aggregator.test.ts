import { describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import type { StepName } from '../../events/envelope.ts';
import type { KpiRecorded } from '../../events/schemas/events.ts';
import { count, type Kpi, kpiRecord } from '../../functions/shared/kpis.ts';
import { DashboardAggregator, MAX_SPANS_PER_ORDER, MAX_STEPS_PER_ORDER } from './aggregator.ts';

const now = new Date('2026-11-24T10:00:00.000Z');
const ms = (name: 'StepLatency' | 'EndToEndLatency', value: number): Kpi => ({
  name,
  value,
  unit: 'Milliseconds',
});

function record(step: StepName, invocation: string, orders: Record<string, Kpi[]>): KpiRecorded {
  const encoded = kpiRecord(
    step,
    invocation,
    Object.entries(orders).map(([orderId, kpis]) => ({ orderId, kpis })),
    now,
  );
  if (!encoded) throw new Error('nothing measured');
  const decoded = decode('KPIs', encoded.value);
  if (!decoded.ok) throw new Error('not a KPI record');
  return decoded.event;
}

describe('dashboard aggregator', () => {
  it('counts, rates, percentiles and timelines from KPI records', () => {
    let clock = now.getTime();
    const aggregator = new DashboardAggregator(() => clock);
    let changes = 0;
    aggregator.subscribe(() => changes++);
    aggregator.record([
      record('inventory', 'i|1', {
        a: [count('OrdersConfirmed'), ms('StepLatency', 10)],
        b: [count('OrdersRejected'), ms('StepLatency', 30)],
      }),
    ]);
    const latencies = Array.from({ length: 100 }, (_, i) => ms('EndToEndLatency', i + 1));
    aggregator.record([record('shipper', 's|1', { a: [count('OrdersShipped'), ...latencies] })]);
    const snapshot = aggregator.snapshot();
    expect(changes).toBe(2);
    expect(snapshot.counts).toEqual({ received: 0, confirmed: 1, rejected: 1, cancelled: 0, shipped: 1 });
    expect(snapshot.ordersPerSecond).toEqual({ inventory: 0.2, shipper: 0.1 });
    expect(snapshot.stepLatency.inventory).toEqual({ p50: 30, p99: 30, samples: 2 });
    expect(snapshot.endToEndLatency).toEqual({ p50: 51, p99: 100, samples: 100 });
    // Most recent activity first, each order with the steps that moved it.
    expect(snapshot.lastOrders.map((o) => [o.orderId, o.steps.map((s) => s.step)])).toEqual([
      ['a', ['inventory', 'shipper']],
      ['b', ['inventory']],
    ]);
    clock += 11_000;
    expect(aggregator.snapshot().ordersPerSecond).toEqual({});
  });

  it('keeps the last orders only', () => {
    const aggregator = new DashboardAggregator();
    for (let i = 0; i < 40; i++)
      aggregator.record([record('order-api', `o|${i}`, { [`order-${i}`]: [count('OrdersReceived')] })]);
    const { lastOrders, counts } = aggregator.snapshot();
    expect(counts.received).toBe(40);
    expect(lastOrders).toHaveLength(15);
    expect(lastOrders[0]?.orderId).toBe('order-39');
  });

  it('counts a cancellation once: order-api owns OrdersCancelled, a release claiming it is ignored', () => {
    const lines: string[] = [];
    const aggregator = new DashboardAggregator(Date.now, (line) => lines.push(line));
    aggregator.record([
      record('order-api', 'cancel|a', { a: [count('OrdersCancelled')] }),
      record('inventory-release', 'r|1', { a: [count('OrdersCancelled'), ms('StepLatency', 5)] }),
      record('inventory-release', 'r|2', { a: [count('StockReleased', 2), ms('StepLatency', 5)] }),
    ]);
    expect(aggregator.snapshot().counts.cancelled).toBe(1);
    expect(lines).toEqual([expect.stringContaining('inventory-release does not report OrdersCancelled')]);
  });

  it('ignores a schema-valid record claiming more than its invocation can have done', () => {
    const aggregator = new DashboardAggregator(Date.now, () => undefined);
    aggregator.record([record('shipper', 's|1', { a: [count('OrdersShipped')] })]);
    const forged = record('shipper', 's|2', { b: [count('OrdersShipped')] });
    const huge = {
      ...forged,
      data: {
        ...forged.data,
        metrics: [
          { name: 'OrdersShipped' as const, unit: 'Count' as const, values: Array(10_000).fill(1e12) },
        ],
      },
    };
    const otherSource = { ...forged, source: 'order-api' as const };
    aggregator.record([huge, otherSource]);
    // Real shipments still move the tile.
    aggregator.record([record('shipper', 's|3', { c: [count('OrdersShipped')] })]);
    expect(aggregator.snapshot().counts.shipped).toBe(2);
  });

  it("bounds an order's timeline and the snapshot, whatever records name it", () => {
    let clock = now.getTime();
    const aggregator = new DashboardAggregator(
      () => clock,
      () => undefined,
    );
    const batch = Array.from({ length: 100 }, (_, i) => `order-${i}`);
    for (let i = 0; i < 200; i++) {
      clock += 1_000;
      const at = new Date(clock);
      const encoded = kpiRecord(
        'notification',
        `n|${i}`,
        [...batch, 'victim']
          .slice(-100)
          .map((orderId) => ({ orderId, kpis: [count('NotificationsDelivered')] })),
        at,
      );
      const decoded = encoded && decode('KPIs', encoded.value);
      if (!decoded?.ok) throw new Error('not a KPI record');
      // The same record twice adds one step.
      aggregator.record([decoded.event, decoded.event]);
    }
    const snapshot = aggregator.snapshot();
    const victim = snapshot.lastOrders.find((o) => o.orderId === 'victim');
    expect(victim?.steps).toHaveLength(MAX_STEPS_PER_ORDER);
    expect(new Set(victim?.steps.map((s) => s.at)).size).toBe(MAX_STEPS_PER_ORDER);
    expect(snapshot.lastOrders.every((o) => o.steps.length <= MAX_STEPS_PER_ORDER)).toBe(true);
    expect(JSON.stringify(snapshot).length).toBeLessThan(32 * 1024);
  });

  it('gives each last order the waterfall of its spans, and ignores spans that are not spans', () => {
    const lines: string[] = [];
    const aggregator = new DashboardAggregator(
      () => now.getTime(),
      (line) => lines.push(line),
    );
    const span = (
      spanId: string,
      parentId: string | undefined,
      source: string,
      name: string,
      startMs: number,
    ) => ({
      traceId: '1-5759e988-bd862e3fe1be46a994272793',
      spanId,
      ...(parentId ? { parentId } : {}),
      orderId: 'a',
      source,
      name,
      startMs,
      durationMs: 1.25,
    });
    // The warehouse's spans arrive before inventory's, which caused them.
    aggregator.recordSpans([
      span('w', 'p', 'warehouse', 'process', 1_020),
      { name: 'not a span' },
      span('p', 'i', 'inventory', 'produce OrderConfirmed', 1_015),
    ]);
    aggregator.recordSpans([span('i', undefined, 'inventory', 'process', 1_000)]);
    aggregator.record([record('inventory', 'i|1', { a: [count('OrdersConfirmed')] })]);
    const [order] = aggregator.snapshot().lastOrders;
    expect(order?.waterfall.map((row) => [row.source, row.name, row.offsetMs, row.depth])).toEqual([
      ['inventory', 'process', 0, 0],
      ['inventory', 'produce OrderConfirmed', 15, 1],
      ['warehouse', 'process', 20, 2],
    ]);
    expect(lines.some((line) => line.includes('span'))).toBe(true);
    aggregator.recordSpans(
      Array.from({ length: MAX_SPANS_PER_ORDER + 10 }, (_, i) => span(`s${i}`, undefined, 'x', 'y', i)),
    );
    expect(aggregator.snapshot().lastOrders[0]?.waterfall).toHaveLength(MAX_SPANS_PER_ORDER);
  });

  it('keeps the last five minutes of throughput and latency for the charts, empty buckets included', () => {
    let clock = now.getTime();
    const aggregator = new DashboardAggregator(() => clock);
    for (const id of ['a', 'b'])
      aggregator.record([record('order-api', `o|${id}`, { [id]: [count('OrdersReceived')] })]);
    clock += 12_000;
    aggregator.record([record('shipper', 's|1', { a: [count('OrdersShipped'), ms('EndToEndLatency', 40)] })]);
    const history = aggregator.snapshot().history;
    expect(history).toHaveLength(60);
    expect(history.at(-1)).toMatchObject({ received: 0, shipped: 0.2, endToEndP50: 40 });
    expect(history.at(-3)).toMatchObject({ received: 0.4, shipped: 0, endToEndP50: null });
    expect(history.at(-2)).toMatchObject({ received: 0, shipped: 0, endToEndP50: null });
    clock += 10 * 60_000;
    expect(aggregator.snapshot().history.every((point) => point.received === 0 && point.shipped === 0)).toBe(
      true,
    );
  });
});
