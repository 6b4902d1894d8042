import { describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import {
  count,
  isValidKpiValue,
  kpiData,
  kpiRecord,
  latency,
  MAX_KPI_VALUE,
  MAX_KPI_VALUES,
  MAX_LATENCY_MS,
  millisecondsSince,
  validKpis,
} from './kpis.ts';

const now = new Date('2026-11-24T10:00:02.500Z');

describe('KPIs', () => {
  it('measures latencies in milliseconds; a timestamp slightly ahead of this clock is 0', () => {
    expect(millisecondsSince('2026-11-24T10:00:00.000Z', now)).toBe(2_500);
    expect(millisecondsSince('2026-11-24T10:00:03.000Z', now)).toBe(0);
    expect(latency('EndToEndLatency', '2026-11-24T10:00:00.000Z', now)).toEqual({
      name: 'EndToEndLatency',
      value: 2_500,
      unit: 'Milliseconds',
    });
  });

  it.each([
    ['centuries back', '1626-11-24T10:00:00.000Z'],
    ['the year 1', '0001-01-01T00:00:00.000Z'],
    ['a day ahead', '2026-11-25T10:00:00.000Z'],
    ['no time at all', 'garbage'],
    ['past the longest wait a record can have', new Date(now.getTime() - MAX_LATENCY_MS - 1).toISOString()],
  ])('drops a latency from a timestamp %s, and counts it', (_, since) => {
    const kpis = [count('NotificationsDelivered'), latency('StepLatency', since, now)];
    expect(kpis.filter(isValidKpiValue)).toHaveLength(1);
    expect(validKpis(kpis)).toEqual([count('NotificationsDelivered'), count('KpiValuesDropped', 1)]);
    const record = kpiRecord('notification', 'inv', [{ orderId: 'ord-1', kpis }], now);
    const decoded = decode('KPIs', record?.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.event.data.metrics).toEqual([
      { name: 'NotificationsDelivered', unit: 'Count', values: [1] },
      { name: 'KpiValuesDropped', unit: 'Count', values: [1] },
    ]);
  });

  it('keeps the longest true latency and drops what no count can be', () => {
    const oldest = new Date(now.getTime() - MAX_LATENCY_MS).toISOString();
    expect(isValidKpiValue(latency('EndToEndLatency', oldest, now))).toBe(true);
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, -1, MAX_KPI_VALUE * 10])
      expect(isValidKpiValue(count('StockReleased', value))).toBe(false);
    expect(isValidKpiValue(count('StockReleased', MAX_KPI_VALUE))).toBe(true);
  });

  it("builds a record within its schema whatever was measured: values past a metric's limit and ids that are no order ids left out", () => {
    const many = Array.from({ length: MAX_KPI_VALUES + 5 }, (_, i) => ({
      orderId: i === 0 ? 'not an order id!' : `ord-${i}`,
      kpis: [count('OrdersShipped'), count('StockReleased', Number.NaN)],
    }));
    const data = kpiData('shipper', many);
    expect(data?.metrics.map((m) => [m.name, m.values.length])).toEqual([
      ['OrdersShipped', MAX_KPI_VALUES],
      ['KpiValuesDropped', 1],
    ]);
    expect(data?.metrics[1]?.values).toEqual([MAX_KPI_VALUES + 5 + 5]);
    expect(data?.orderIds).toHaveLength(MAX_KPI_VALUES);
    expect(data?.orderIds).not.toContain('not an order id!');
    const decoded = decode('KPIs', kpiRecord('shipper', 'inv', many, now)?.value);
    expect(decoded.ok).toBe(true);
  });

  it('publishes one valid KPIs record per invocation, every metric with all its values, the id derived from the invocation', () => {
    const measured = [
      {
        orderId: 'ord-1',
        kpis: [count('OrdersShipped'), latency('StepLatency', '2026-11-24T10:00:02.000Z', now)],
      },
      {
        orderId: 'ord-2',
        kpis: [count('OrdersShipped'), latency('StepLatency', '2026-11-24T10:00:01.500Z', now)],
      },
      { orderId: undefined, kpis: [count('RecordsDeadLettered')] },
    ];
    const record = kpiRecord('shipper', 'OrderPickedAndPacked-0@7', measured, now);
    const decoded = decode('KPIs', record?.value);
    if (!decoded.ok) throw decoded.error;
    expect(record?.key).toBe('shipper');
    expect(decoded.event.data).toEqual({
      step: 'shipper',
      metrics: [
        { name: 'OrdersShipped', unit: 'Count', values: [1, 1] },
        { name: 'StepLatency', unit: 'Milliseconds', values: [500, 1_000] },
        { name: 'RecordsDeadLettered', unit: 'Count', values: [1] },
      ],
      orderIds: ['ord-1', 'ord-2'],
    });
    const again = kpiRecord('shipper', 'OrderPickedAndPacked-0@7', measured, new Date());
    expect(again?.headers['event-id']).toBe(record?.headers['event-id']);
    expect(kpiRecord('shipper', 'OrderPickedAndPacked-0@8', measured, now)?.headers['event-id']).not.toBe(
      record?.headers['event-id'],
    );
    expect(kpiRecord('shipper', 'x', [{ orderId: 'ord-1', kpis: [] }], now)).toBeUndefined();
  });
});
