import { describe, expect, it } from 'vitest';
import type { OrderStatus } from '../../functions/shared/orders/model.ts';
import {
  type CancelAnswer,
  checkCancellations,
  checkNotifications,
  holdsStock,
  isFinal,
  type OrderFacts,
  type RecordedNotification,
} from './verify.ts';

const item = (orderId: string, kind: string): RecordedNotification => ({
  orderId,
  kind,
  notificationId: `${orderId}-${kind}`,
});
const order = (status: OrderStatus, more: Partial<OrderFacts> = {}): OrderFacts => ({
  status,
  items: [],
  history: [],
  ...more,
});

/** checkNotifications for orders in `statuses` (order id → final status) and what was recorded of them. */
const notificationsOf = (statuses: Record<string, string>, recorded: RecordedNotification[]) =>
  checkNotifications({ orderStatus: new Map(Object.entries(statuses)), recorded });

describe('cancelled orders in a fault run', () => {
  it('passes a cancelled order told once it was cancelled, packed before or not', () => {
    const check = notificationsOf({ o1: 'CANCELLED', o2: 'CANCELLED' }, [
      item('o1', 'order-cancelled'),
      item('o2', 'order-packed'),
      item('o2', 'order-cancelled'),
    ]);
    expect(check).toEqual({ duplicates: [], missing: [], repeatedSends: [], deliveriesObserved: true });
  });

  it('finds a cancelled order never told, and a second cancellation notice', () => {
    const check = notificationsOf({ o1: 'CANCELLED', o2: 'CANCELLED' }, [
      item('o2', 'order-cancelled'),
      { ...item('o2', 'order-cancelled'), notificationId: 'again' },
    ]);
    expect(check.missing).toEqual([{ orderId: 'o1', kind: 'order-cancelled', problem: 'not-recorded' }]);
    expect(check.duplicates).toEqual([
      { orderId: 'o2', kind: 'order-cancelled', recorded: 2, delivered: undefined },
    ]);
  });

  it('finds the final notice of another final status: a cancelled order told it shipped, and the reverse', () => {
    const check = notificationsOf({ o1: 'CANCELLED', o2: 'SHIPPED' }, [
      item('o1', 'order-cancelled'),
      item('o1', 'order-shipped'),
      item('o2', 'order-packed'),
      item('o2', 'order-shipped'),
      item('o2', 'order-cancelled'),
    ]);
    expect(check.missing).toEqual([
      { orderId: 'o1', kind: 'order-shipped', problem: 'contradicts-status' },
      { orderId: 'o2', kind: 'order-cancelled', problem: 'contradicts-status' },
    ]);
  });

  it('counts a cancelled order final only once its stock question is settled', () => {
    expect(isFinal(order('SHIPPED'))).toBe(true);
    expect(isFinal(order('REJECTED'))).toBe(true);
    expect(isFinal(order('CANCELLED', { stockReleased: true, cancelledFrom: 'CONFIRMED' }))).toBe(true);
    // Cancelled before inventory saw it: inventory-release still marks it (with nothing to give back).
    expect(isFinal(order('CANCELLED', { stockReleased: true, cancelledFrom: 'RECEIVED' }))).toBe(true);
    expect(isFinal(order('CANCELLED', { cancelledFrom: 'PACKED' }))).toBe(false);
    expect(isFinal(order('PACKED'))).toBe(false);
    expect(isFinal(undefined)).toBe(false);
  });

  it('expects stock held by orders past inventory and by a cancelled one until its stock is back', () => {
    expect((['CONFIRMED', 'PACKED', 'SHIPPED'] as const).map((s) => holdsStock(order(s)))).toEqual([
      true,
      true,
      true,
    ]);
    expect(holdsStock(order('REJECTED'))).toBe(false);
    expect(holdsStock(order('RECEIVED'))).toBe(false);
    expect(holdsStock(order('CANCELLED', { cancelledFrom: 'PACKED' }))).toBe(true);
    expect(holdsStock(order('CANCELLED', { cancelledFrom: 'PACKED', stockReleased: true }))).toBe(false);
    expect(holdsStock(order('CANCELLED', { cancelledFrom: 'RECEIVED' }))).toBe(false);
  });

  it('holds a 202 cancel to CANCELLED and a 409 to SHIPPED or REJECTED', () => {
    const answers = new Map<string, CancelAnswer>([
      ['ok-cancelled', { status: 202 }],
      ['ok-shipped', { status: 409, currentStatus: 'SHIPPED' }],
      ['ok-rejected', { status: 409, currentStatus: 'REJECTED' }],
      ['bad-202', { status: 202 }],
      ['bad-409', { status: 409, currentStatus: 'CANCELLED' }],
    ]);
    const orders = new Map<string, OrderFacts>([
      ['ok-cancelled', order('CANCELLED', { cancelledFrom: 'CONFIRMED', stockReleased: true })],
      ['ok-shipped', order('SHIPPED')],
      ['ok-rejected', order('REJECTED')],
      ['bad-202', order('SHIPPED')],
      ['bad-409', order('CANCELLED', { cancelledFrom: 'RECEIVED', stockReleased: true })],
      ['not-asked', order('SHIPPED')],
    ]);
    expect(checkCancellations(answers, orders)).toEqual({
      accepted: 2,
      refused: 3,
      cancelled: 2,
      cancelledFrom: { CONFIRMED: 1, RECEIVED: 1 },
      contradictions: [
        { orderId: 'bad-202', answer: 202, finalStatus: 'SHIPPED' },
        { orderId: 'bad-409', answer: 409, finalStatus: 'CANCELLED' },
      ],
    });
  });
});
