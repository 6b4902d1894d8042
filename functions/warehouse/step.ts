import { catalogBySku } from '../shared/catalog.ts';
import { orderEventId } from '../shared/orders/events.ts';
import { orderOf, reachedAt } from '../shared/orders/model.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import { advanceOrder, assertGenuineEvent, movedOnOutcome } from '../shared/orders/step.ts';
import type { ConsumerStep } from '../shared/step-types.ts';
import { packedOutcome, packParcel } from './logic.ts';

/**
 * Picks and packs a confirmed order: CONFIRMED → PACKED, then OrderPickedAndPacked, both from the stored
 * order. Only the genuine OrderConfirmed of a stored order with the same content is acted on.
 */
export function warehouseStep(ports: { orders: OrdersPort }): ConsumerStep<'OrderConfirmed'> {
  return {
    name: 'warehouse',
    topic: 'OrderConfirmed',
    async process(event, { now }) {
      const { order } = event.data;
      assertGenuineEvent(event, order.orderId, orderEventId(order.orderId, 'OrderConfirmed'));
      const parcel = packParcel(order, (sku) => catalogBySku.get(sku)?.weightGrams);
      const packedAt = now.toISOString();
      const settled = await advanceOrder(ports.orders, 'warehouse', order, {
        from: ['CONFIRMED'],
        to: 'PACKED',
        at: packedAt,
        detail: `parcel ${parcel.parcelId}, ${parcel.weightGrams} g`,
        set: { parcel },
      });
      if (settled.kind === 'moved-on') return movedOnOutcome(settled.order);
      // An earlier attempt's parcel, if it packed the order before crashing: the same one is announced.
      const stored = settled.order;
      return packedOutcome(
        event,
        orderOf(stored),
        stored.parcel ?? parcel,
        reachedAt(stored, 'PACKED') ?? packedAt,
        settled.kind === 'replayed',
        now,
      );
    },
  };
}
