import { type ReservationLine, reservationPlan } from '../inventory/logic.ts';
import { InvalidTransitionError } from '../shared/errors.ts';
import { orderEventId } from '../shared/orders/events.ts';
import { RESERVED_STATUSES } from '../shared/orders/model.ts';
import type { OrdersPort } from '../shared/orders/repository.ts';
import { assertGenuineEvent } from '../shared/orders/step.ts';
import { fullJitter, retry } from '../shared/retry.ts';
import type { ConsumerStep } from '../shared/step-types.ts';
import { cancelledOutcome, type ReleasePlan, releasePlan } from './logic.ts';
import type { ReleasePort } from './stock-store.ts';

/**
 * Attempts of one release: a transaction refused for a conflict or throttled items (the SDK retries
 * neither) is tried again after a random wait (full jitter), one refused for a line is planned again.
 */
export const RELEASE_RETRY = { attempts: 6, delay: fullJitter({ baseMs: 20, capMs: 400 }) } as const;

/** Nothing changed, and a later attempt may succeed. */
class ReleaseContended extends Error {
  override readonly name = 'ReleaseContended';
}

/** The order as stored, and the release transaction. */
interface ReleasePorts {
  orders: OrdersPort;
  stock: ReleasePort;
}

/**
 * The compensating step of inventory: gives back exactly the units it reserved for a cancelled order,
 * exactly once, and tells the customer. What was reserved is read from the order as stored — the status
 * the cancellation found (`cancelledFrom`) says whether a reservation had happened, the stored lines say
 * what it held — never from the event. A cancellation always finishes: a line that can no longer be given
 * back (its SKU gone from the inventory, ...) is recorded on the order and alerted for an operator, the
 * rest is given back, and the customer is told the order is cancelled.
 */
export function releaseStep({ orders, stock }: ReleasePorts): ConsumerStep<'OrderCancelled'> {
  return {
    name: 'inventory-release',
    topic: 'OrderCancelled',
    async process(event, { now, logger }) {
      const { orderId } = event.data;
      assertGenuineEvent(event, orderId, orderEventId(orderId, 'OrderCancelled'));
      const stored = await orders.get(orderId);
      if (!stored)
        throw new InvalidTransitionError(`order ${orderId} is unknown; only order-api creates orders`);
      if (stored.status !== 'CANCELLED' || !stored.cancelledFrom) {
        throw new InvalidTransitionError(`order ${orderId} is ${stored.status}, not cancelled`);
      }
      const reserved = RESERVED_STATUSES.includes(stored.cancelledFrom);
      const plan = reservationPlan(stored.items);
      const lines = reserved && plan.ok ? plan.lines : [];
      const units = lines.reduce((sum, line) => sum + line.quantity, 0);
      if (stored.stockReleased !== undefined) return cancelledOutcome(event, stored, units, true, now);
      const { kind, plan: done } = await releaseWhatCan(stock, orderId, lines, reserved);
      if (kind === 'already-released') return cancelledOutcome(event, stored, units, true, now);
      if (done.keep.length > 0) {
        // The cancellation finishes (the customer is told); the stock it could not give back is an
        // operator's to reconcile: recorded on the order as `unreleasedStock`, and alerted here.
        logger.error('stock release: some lines could not be given back, an operator must reconcile', {
          orderId,
          unreleased: done.keep,
        });
      }
      const given = done.give.reduce((sum, line) => sum + line.quantity, 0);
      return cancelledOutcome(event, stored, given, false, now, done.keep);
    },
  };
}

/**
 * Gives back what can be given back, exactly once: the whole reservation, or — when a line is refused for
 * good (its SKU gone from the inventory, its item malformed or holding fewer units as reserved) — the
 * other lines, with the refused ones recorded on the order. Conflicts with concurrent transactions are
 * retried after a short random wait; a refused line is read and planned again.
 */
async function releaseWhatCan(
  stock: ReleasePort,
  orderId: string,
  lines: readonly ReservationLine[],
  reserved: boolean,
): Promise<{ kind: 'released' | 'already-released'; plan: ReleasePlan }> {
  let plan: ReleasePlan = { give: [...lines], keep: [] };
  const attempt = async () => {
    const result = await stock.release(orderId, plan.give, reserved, plan.keep);
    if (result.kind === 'released' || result.kind === 'already-released') return { kind: result.kind, plan };
    if (result.kind === 'stock-refused') {
      plan = releasePlan(lines, await stock.items(lines.map((line) => line.sku)));
    }
    throw new ReleaseContended(result.kind);
  };
  return retry(attempt, { ...RELEASE_RETRY, retryIf: (error) => error instanceof ReleaseContended }).catch(
    (error: unknown) => {
      if (!(error instanceof ReleaseContended)) throw error;
      // Transient: the record's partition is redone by the event source mapping.
      throw new Error(
        `stock release of order ${orderId} kept being refused during ${RELEASE_RETRY.attempts} attempts (${error.message})`,
      );
    },
  );
}
