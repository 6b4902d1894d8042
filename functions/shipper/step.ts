import { orderEventId } from '../shared/orders/events.ts';
import { orderOf } from '../shared/orders/model.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import { advanceOrder, assertGenuineEvent, movedOnOutcome } from '../shared/orders/step.ts';
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
      const booking = bookShipment(event);
      const settled = await advanceOrder(ports.orders, 'shipper', order, {
        from: ['PACKED'],
        to: 'SHIPPED',
        at: now.toISOString(),
        detail: `${booking.carrier} ${booking.trackingNumber}`,
        set: { ...booking },
        // The booking depends on the parcel: it must be the one the warehouse stored.
        match: { 'parcel.parcelId': parcel.parcelId, 'parcel.weightGrams': parcel.weightGrams },
      });
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
