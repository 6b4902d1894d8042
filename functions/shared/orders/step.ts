import type { Order } from '../../../events/schemas/order.ts';
import { InvalidTransitionError } from '../errors.ts';
import type { StepOutcome } from '../step-types.ts';
import { hasReached, type OrderStatus, orderDigest, type StoredOrder, type Transition } from './model.ts';
import type { OrdersPort, TransitionResult } from './repository.ts';

/** What a step's conditional transition came to, when it may go on. */
export type Settled =
  /** This attempt moved the order: produce what follows from the stored order. */
  | { kind: 'applied'; order: StoredOrder }
  /**
   * An earlier attempt moved it and may have crashed before producing: produce the same events again,
   * from the stored order, with the same ids (the next step drops the duplicates).
   */
  | { kind: 'replayed'; order: StoredOrder }
  /** The order is already past this step, so what this step produces was produced long ago: nothing to do. */
  | { kind: 'moved-on'; order: StoredOrder };

/**
 * Refuses an event whose id is not the one its order's event of that type has (see `orderEventId`): a
 * forged or hand-made event never drives an order, however plausible its content.
 */
export function assertGenuineEvent(
  event: { eventId: string; eventType: string },
  orderId: string,
  expectedId: string,
): void {
  if (event.eventId !== expectedId) {
    throw new InvalidTransitionError(
      `${event.eventType} ${event.eventId} is not order ${orderId}'s ${event.eventType} (${expectedId})`,
    );
  }
}

/**
 * The one rule of every step: a transition applied, or refused because this step (or one after it)
 * already moved the order, lets the step go on; anything else — an unknown order, an order whose stored
 * content differs from the event's copy, an order in a state this step does not act on — is a refused
 * transition, dead-lettered with its reason.
 */
export function settle(
  result: TransitionResult,
  expected: { orderId: string; digest: string; to: readonly OrderStatus[]; step: string },
): Settled {
  if (result.applied) return { kind: 'applied', order: result.order };
  const { current } = result;
  const { orderId, step } = expected;
  if (!current)
    throw new InvalidTransitionError(`order ${orderId} is unknown; only order-api creates orders`);
  if (current.digest !== expected.digest) {
    throw new InvalidTransitionError(`the event's copy of order ${orderId} differs from the stored order`);
  }
  if (expected.to.includes(current.status)) return { kind: 'replayed', order: current };
  // Cancelled: whatever this step would do is not to be done (cancellation's own step gives stock back).
  if (current.status === 'CANCELLED') return { kind: 'moved-on', order: current };
  if (expected.to.some((to) => hasReached(current.status, to))) return { kind: 'moved-on', order: current };
  throw new InvalidTransitionError(`order ${orderId} is ${current.status}; ${step} does not act on it`);
}

/**
 * A step's one transition of the order its event carries, settled (`settle`): keyed and digested from
 * the event's copy, so it applies only to the stored order with that same content.
 */
export async function advanceOrder(
  orders: Pick<OrdersPort, 'transition'>,
  step: string,
  order: Order,
  move: Omit<Transition, 'orderId' | 'digest'>,
): Promise<Settled> {
  const { orderId } = order;
  const digest = orderDigest(order);
  const result = await orders.transition({ ...move, orderId, digest });
  return settle(result, { orderId, digest, to: [move.to], step });
}

/** Nothing to produce: the order is already past this step (a redelivered or stale event). */
export function movedOnOutcome(order: StoredOrder): StepOutcome {
  return {
    orderId: order.orderId,
    events: [],
    kpis: [],
    replayed: true,
    summary: `order is ${order.status} already, nothing to do`,
  };
}
