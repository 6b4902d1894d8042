import { newEvent } from './codec.ts';
import type { Order } from './schemas/order.ts';
import type { EventOf, TopicName } from './topics.ts';

/**
 * Test fixture: one valid event per topic for `orderId` (a fresh id keeps a run's records apart from
 * others' on a shared broker). Built through `newEvent`, as producers build theirs.
 */
export function eventsFor(orderId: string): { [T in TopicName]: EventOf<T> } {
  const order: Order = {
    orderId,
    customerId: 'cust-1',
    items: [{ sku: 'SKU-TSHIRT-M', name: 'T-shirt', quantity: 2, unitPrice: 19.99 }],
    total: 39.98,
    currency: 'USD',
    shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Seattle', postalCode: '98101', country: 'US' },
    placedAt: '2026-11-24T10:00:00.000Z',
  };
  const base = { correlationId: orderId, causationId: `req-${orderId}`, source: 'order-api' } as const;
  return {
    OrderReceived: newEvent('OrderReceived', { ...base, data: { order } }),
    OrderConfirmed: newEvent('OrderConfirmed', {
      ...base,
      source: 'inventory',
      data: { order, reservedAt: order.placedAt },
    }),
    OrderPickedAndPacked: newEvent('OrderPickedAndPacked', {
      ...base,
      source: 'warehouse',
      data: {
        order,
        parcel: { parcelId: 'p-1', weightGrams: 400, size: 'S' },
        packedAt: order.placedAt,
      },
    }),
    Notification: newEvent('Notification', {
      ...base,
      source: 'shipper',
      data: {
        orderId,
        customerId: 'cust-1',
        kind: 'order-shipped',
        channel: 'email',
        subject: 'Shipped',
        message: 'Your order is on its way',
        details: { trackingNumber: 'TRK1' },
      },
    }),
    OrderCancelled: newEvent('OrderCancelled', {
      ...base,
      data: { orderId, reason: 'Changed my mind', cancelledAt: order.placedAt },
    }),
    DeadLetterQueue: newEvent('DeadLetterQueue', {
      ...base,
      source: 'inventory',
      data: {
        reason: 'poison',
        function: 'inventory',
        error: { name: 'EventDecodeError', message: 'not-json' },
        attempts: 1,
        record: {
          topic: 'OrderReceived',
          partition: 0,
          offset: '42',
          key: Buffer.from(orderId).toString('base64'),
          value: Buffer.from('not json').toString('base64'),
          headers: [],
        },
      },
    }),
    KPIs: newEvent('KPIs', {
      ...base,
      data: {
        step: 'order-api',
        metrics: [
          { name: 'OrdersReceived', unit: 'Count', values: [1] },
          { name: 'StepLatency', unit: 'Milliseconds', values: [12] },
        ],
        orderIds: [orderId],
      },
    }),
  };
}
