import { describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import { count, kpiRecord, latency, millisecondsSince } from './kpis.ts';

const now = new Date('2026-11-24T10:00:02.500Z');

describe('KPIs', () => {
  it('measures latencies in milliseconds, never negative', () => {
    expect(millisecondsSince('2026-11-24T10:00:00.000Z', now)).toBe(2_500);
    expect(millisecondsSince('2026-11-24T10:00:03.000Z', now)).toBe(0);
    expect(millisecondsSince('garbage', now)).toBe(0);
    expect(latency('EndToEndLatency', '2026-11-24T10:00:00.000Z', now)).toEqual({
      name: 'EndToEndLatency',
      value: 2_500,
      unit: 'Milliseconds',
    });
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
