import { orderEventId } from '../shared/orders/events.ts';
import { orderDigest, orderOf } from '../shared/orders/model.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import { assertGenuineEvent, movedOnOutcome, settle } from '../shared/orders/step.ts';
import type { ConsumerStep } from '../shared/step-types.ts';
import { type Booking, bookShipment, shippedOutcome } from './logic.ts';

/**
 * Books a carrier for a packed order: PACKED → SHIPPED, then the shipping notice, from the stored order.
 * Only the genuine OrderPickedAndPacked of a stored order with the same content and parcel is acted on.
 */
export function shipperStep(ports: { orders: OrdersPort }): ConsumerStep<'OrderPickedAndPacked'> {
  return {
    name: 'shipper',
    topic: 'OrderPickedAndPacked',
    async process(event, { now }) {
      const { order, parcel } = event.data;
      assertGenuineEvent(event, order.orderId, orderEventId(order.orderId, 'OrderPickedAndPacked'));
      const digest = orderDigest(order);
      const booking = bookShipment(event);
      const shippedAt = now.toISOString();
      const result = await ports.orders.transition({
        orderId: order.orderId,
        from: ['PACKED'],
        to: 'SHIPPED',
        at: shippedAt,
        detail: `${booking.carrier} ${booking.trackingNumber}`,
        set: { ...booking },
        digest,
        // The booking depends on the parcel: it must be the one the warehouse stored.
        match: { 'parcel.parcelId': parcel.parcelId, 'parcel.weightGrams': parcel.weightGrams },
      });
      const settled = settle(result, { orderId: order.orderId, digest, to: ['SHIPPED'], step: 'shipper' });
      if (settled.kind === 'moved-on') return movedOnOutcome(settled.order);
      const stored = settled.order;
      const storedBooking =
        stored.carrier && stored.trackingNumber
          ? { carrier: stored.carrier as Booking['carrier'], trackingNumber: stored.trackingNumber }
          : booking;
      return shippedOutcome(event, orderOf(stored), storedBooking, settled.kind === 'replayed', now);
    },
  };
}
