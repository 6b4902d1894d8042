import { describe, expect, it } from 'vitest';
import type { LineItem } from '../../events/schemas/order.ts';
import { catalog } from '../shared/catalog.ts';
import { PermanentError } from '../shared/errors.ts';
import { orderReceived, sampleOrder } from '../shared/testing.ts';
import {
  confirmedOutcome,
  MAX_RESERVATION_LINES,
  rejectedOutcome,
  rejectionReason,
  reservationPlan,
} from './logic.ts';
import { judgeCancellation, reservationTransaction } from './stock-store.ts';

const line = (sku: string, quantity: number): LineItem => ({ sku, name: sku, quantity, unitPrice: 1 });
const now = new Date('2026-11-24T10:00:00.400Z');

describe('reservation plan', () => {
  it('merges lines of the same SKU and sorts by SKU', () => {
    const plan = reservationPlan([line('SKU-MUG', 1), line('SKU-A', 2), line('SKU-MUG', 3)]);
    expect(plan).toEqual({
      ok: true,
      lines: [
        { sku: 'SKU-A', quantity: 2 },
        { sku: 'SKU-MUG', quantity: 4 },
      ],
    });
  });

  it('rejects an order with more SKUs than one transaction can reserve', () => {
    const items = Array.from({ length: MAX_RESERVATION_LINES + 1 }, (_, i) => line(`SKU-${i}`, 1));
    const plan = reservationPlan(items);
    expect(plan.ok).toBe(false);
    if (!plan.ok) expect(plan.reason).toBe('too many different products (100); at most 99 per order');
    expect(reservationPlan(items.slice(1)).ok).toBe(true);
  });
});

describe('rejection reasons', () => {
  const lines = [
    { sku: 'SKU-MUG', quantity: 2 },
    { sku: 'SKU-VINYL-LTD', quantity: 5 },
    { sku: 'SKU-GHOST', quantity: 1 },
    { sku: 'SKU-POSTER', quantity: 1 },
  ];

  it('names every short or unknown SKU, and only those', () => {
    const available = new Map([
      ['SKU-MUG', 10],
      ['SKU-VINYL-LTD', 3],
      ['SKU-POSTER', 0],
    ]);
    expect(rejectionReason(lines, available)).toBe(
      'SKU-VINYL-LTD: 5 requested, only 3 available; SKU-GHOST is not a product we sell; SKU-POSTER is out of stock',
    );
  });

  it('has no reason when everything is available after all', () => {
    const available = new Map(lines.map((l) => [l.sku, l.quantity]));
    expect(rejectionReason(lines, available)).toBeUndefined();
  });
});

describe('inventory outcomes', () => {
  const event = orderReceived(sampleOrder(), new Date('2026-11-24T10:00:00.100Z'));

  it('confirms with OrderConfirmed alone, its id derived from the order', () => {
    const outcome = confirmedOutcome(event, event.data.order, '2026-11-24T10:00:00.300Z', false, now);
    expect(outcome.events.map((e) => [e.topic, e.key])).toEqual([['OrderConfirmed', 'ord-1']]);
    expect(outcome.kpis).toEqual([
      { name: 'OrdersConfirmed', value: 1, unit: 'Count' },
      { name: 'StepLatency', value: 300, unit: 'Milliseconds' },
    ]);
    const replay = confirmedOutcome(event, event.data.order, '2026-11-24T10:00:00.300Z', true, new Date());
    expect(replay.events.map((e) => e.headers['event-id'])).toEqual(
      outcome.events.map((e) => e.headers['event-id']),
    );
    expect(replay.replayed).toBe(true);
  });

  it('rejects with a notice only', () => {
    const outcome = rejectedOutcome(event, event.data.order, 'SKU-MUG is out of stock', false, now);
    expect(outcome.events.map((e) => e.topic)).toEqual(['Notification']);
    expect(JSON.parse(outcome.events[0]?.value.toString() ?? '{}').data).toMatchObject({
      kind: 'order-rejected',
      details: { reason: 'SKU-MUG is out of stock' },
    });
    expect(outcome.kpis[0]).toEqual({ name: 'OrdersRejected', value: 1, unit: 'Count' });
  });
});

describe('reservation transaction', () => {
  const confirm = {
    orderId: 'ord-1',
    from: ['RECEIVED'] as const,
    to: 'CONFIRMED' as const,
    at: 't',
    digest: 'd',
  };

  it('decrements each SKU only if enough is available, and moves the order, in one transaction', () => {
    const input = reservationTransaction('inventory', 'orders', [{ sku: 'SKU-MUG', quantity: 2 }], confirm);
    expect(input.TransactItems).toHaveLength(2);
    expect(input.TransactItems?.[0]?.Update).toMatchObject({
      TableName: 'inventory',
      Key: { sku: 'SKU-MUG' },
      ConditionExpression: '#available >= :quantity',
      ExpressionAttributeValues: { ':quantity': 2, ':zero': 0 },
    });
    expect(input.TransactItems?.[1]?.Update).toMatchObject({
      TableName: 'orders',
      Key: { orderId: 'ord-1' },
      ConditionExpression: 'attribute_exists(#orderId) AND #status = :from0 AND #digest = :digest',
    });
  });

  it('reads the cancellation reasons: the order first, then the stock', () => {
    const ok = 'None';
    const failed = 'ConditionalCheckFailed';
    expect(judgeCancellation([failed, ok, ok], 2)).toEqual({ kind: 'short' });
    expect(judgeCancellation([failed, ok, failed], 2)).toEqual({ kind: 'order-moved-on' });
    expect(judgeCancellation(undefined, 2)).toBe('unknown');
    // A value DynamoDB refuses can never succeed; a conflict may on a retry.
    expect(() => judgeCancellation(['ValidationError', ok, ok], 2)).toThrow(PermanentError);
    expect(judgeCancellation(['TransactionConflict', ok, ok], 2)).toEqual({ kind: 'conflict' });
    // Throttled items: nothing happened and the SDK does not retry a cancellation, so the step does.
    expect(judgeCancellation(['ThrottlingError', ok, ok], 2)).toEqual({ kind: 'conflict' });
    expect(judgeCancellation([ok, 'TransactionConflict', failed], 2)).toEqual({ kind: 'conflict' });
    expect(() => judgeCancellation(['ItemCollectionSizeLimitExceeded', ok, ok], 2)).toThrow(
      /ItemCollectionSizeLimitExceeded/,
    );
  });
});

describe('demo catalog', () => {
  it('has unique SKUs valid for orders, and one scarce product', () => {
    expect(new Set(catalog.map((c) => c.sku)).size).toBe(catalog.length);
    for (const entry of catalog) expect(entry.sku).toMatch(/^[A-Z0-9-]+$/);
    expect(catalog.filter((c) => c.initialStock < 10)).toHaveLength(1);
  });
});
