import type { OrderReceived } from '../../events/schemas/events.ts';
import { orderReceivedId } from '../shared/orders/events.ts';
import {
  orderDigest,
  orderOf,
  reachedAt,
  type StoredOrder,
  type Transition,
} from '../shared/orders/model.ts';
import { isOwnTransition, type OrdersPort } from '../shared/orders/repository.ts';
import { assertGenuineEvent, movedOnOutcome, settle } from '../shared/orders/step.ts';
import { fullJitter, retry } from '../shared/retry.ts';
import type { ConsumerStep, StepOutcome } from '../shared/step-types.ts';
import { confirmedOutcome, rejectedOutcome, rejectionReason, reservationPlan } from './logic.ts';
import type { StockPort } from './stock-store.ts';

export interface InventoryPorts {
  orders: OrdersPort;
  stock: StockPort;
}

/**
 * Attempts of one reservation: a transaction refused for a conflict with a concurrent one or for throttled
 * items (a hot SKU; the SDK retries neither), or whose stock came back between the refusal and the
 * re-read, is tried again after a random wait (full jitter, 6 attempts wait at most 0.6 s in all). Spent,
 * the record fails transiently and its partition is redone by the event source mapping.
 */
export const RESERVATION_RETRY = { attempts: 6, delay: fullJitter({ baseMs: 20, capMs: 400 }) } as const;

/** Nothing was reserved, and a later attempt may succeed. */
class ReservationContended extends Error {
  override readonly name = 'ReservationContended';
}

/** Inventory's decision takes the order out of the outbox: its OrderReceived has done its work. */
const LEAVE_OUTBOX = ['outboxShard'] as const;

/**
 * Reserves the stock of every line of an order, or rejects the whole order. Only the genuine
 * OrderReceived of a stored RECEIVED order whose content it carries unchanged is acted on; whatever an
 * earlier, crashed attempt decided is found in the orders table and re-announced from it.
 */
export function inventoryStep(ports: InventoryPorts): ConsumerStep<'OrderReceived'> {
  const { orders, stock } = ports;

  /**
   * What a refused decision means, from the order as it is now. `attempted` is the transition this
   * attempt tried: found applied with its own timestamp, the refusal met this attempt's own write (a lost
   * answer the SDK sent again), which is this attempt's decision, not a replay.
   */
  function decidedEarlier(
    event: OrderReceived,
    digest: string,
    attempted: Transition,
    current: StoredOrder | undefined,
    now: Date,
  ) {
    const { orderId } = event.data.order;
    const own = isOwnTransition(attempted, current);
    const settled = settle(
      { applied: false, current },
      { orderId, digest, to: ['CONFIRMED', 'REJECTED'], step: 'inventory' },
    );
    const order = settled.order;
    if (settled.kind === 'moved-on') return movedOnOutcome(order);
    if (order.status === 'REJECTED') {
      return rejectedOutcome(event, orderOf(order), order.rejectionReason ?? 'rejected', !own, now);
    }
    return confirmedOutcome(
      event,
      orderOf(order),
      reachedAt(order, 'CONFIRMED') ?? now.toISOString(),
      !own,
      now,
    );
  }

  async function reject(
    event: OrderReceived,
    digest: string,
    reason: string,
    now: Date,
  ): Promise<StepOutcome> {
    const { orderId } = event.data.order;
    const at = now.toISOString();
    const rejection: Transition = {
      orderId,
      from: ['RECEIVED'],
      to: 'REJECTED',
      at,
      detail: reason,
      set: { rejectionReason: reason },
      remove: LEAVE_OUTBOX,
      digest,
    };
    const result = await orders.transition(rejection);
    if (!result.applied) return decidedEarlier(event, digest, rejection, result.current, now);
    return rejectedOutcome(event, orderOf(result.order), reason, false, now);
  }

  return {
    name: 'inventory',
    topic: 'OrderReceived',
    async process(event, { now }) {
      const { order } = event.data;
      assertGenuineEvent(event, order.orderId, orderReceivedId(order.orderId));
      const digest = orderDigest(order);
      const plan = reservationPlan(order.items);
      if (!plan.ok) return reject(event, digest, plan.reason, now);
      const at = now.toISOString();
      const confirm: Transition = {
        orderId: order.orderId,
        from: ['RECEIVED'],
        to: 'CONFIRMED',
        at,
        detail: `${plan.lines.length} SKU(s) reserved`,
        remove: LEAVE_OUTBOX,
        digest,
      };
      const skus = plan.lines.map((line) => line.sku);
      const attempt = async (): Promise<StepOutcome> => {
        // The transaction first: its cancellation reasons tell a short line from an order that moved on,
        // so the happy path reads nothing. The stock is read only to explain a rejection.
        const result = await stock.reserve(plan.lines, confirm);
        // The digest matched the stored order, so the event's copy is the stored order.
        if (result.kind === 'reserved') return confirmedOutcome(event, order, at, false, now);
        if (result.kind === 'order-moved-on') {
          return decidedEarlier(event, digest, confirm, await orders.get(order.orderId), now);
        }
        if (result.kind === 'conflict') throw new ReservationContended('conflict or throttled items');
        const reason = rejectionReason(plan.lines, await stock.available(skus));
        if (reason) return reject(event, digest, reason, now);
        throw new ReservationContended('the stock came back since the transaction was refused');
      };
      return retry(attempt, {
        ...RESERVATION_RETRY,
        retryIf: (error) => error instanceof ReservationContended,
      }).catch((error: unknown) => {
        if (!(error instanceof ReservationContended)) throw error;
        throw new Error(
          `stock of order ${order.orderId} kept being contended during ${RESERVATION_RETRY.attempts} attempts (${error.message})`,
        );
      });
    },
  };
}
