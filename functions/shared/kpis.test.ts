import { describe, expect, it } from 'vitest';
import { decode } from '../../events/codec.ts';
import { count, kpiRecords, latency, millisecondsSince } from './kpis.ts';

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

  it('publishes valid KPIs records keyed by order id, with ids derived from the cause and the name', () => {
    const kpis = [count('OrdersShipped'), latency('StepLatency', '2026-11-24T10:00:02.000Z', now)];
    const records = kpiRecords('shipper', { causationId: 'evt-1', orderId: 'ord-1' }, kpis, now);
    const events = records.map((r) => {
      const decoded = decode('KPIs', r.value);
      if (!decoded.ok) throw decoded.error;
      return decoded.event;
    });
    expect(records.map((r) => r.key)).toEqual(['ord-1', 'ord-1']);
    expect(events.map((e) => e.data)).toEqual([
      { name: 'OrdersShipped', value: 1, unit: 'Count', step: 'shipper', orderId: 'ord-1' },
      { name: 'StepLatency', value: 500, unit: 'Milliseconds', step: 'shipper', orderId: 'ord-1' },
    ]);
    const again = kpiRecords('shipper', { causationId: 'evt-1', orderId: 'ord-1' }, kpis, new Date());
    expect(again.map((r) => r.headers['event-id'])).toEqual(records.map((r) => r.headers['event-id']));
    expect(new Set(events.map((e) => e.eventId)).size).toBe(2);
  });
});
