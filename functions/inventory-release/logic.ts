import * as z from 'zod';
import type { OrderCancelled } from '../../events/schemas/events.ts';
import type { ReservationLine } from '../inventory/logic.ts';
import { count, latency } from '../shared/kpis.ts';
import { notificationRecord } from '../shared/notifications.ts';
import { orderOf, type StoredOrder, type UnreleasedLine } from '../shared/orders/model.ts';
import type { StepOutcome } from '../shared/step-types.ts';

/** What giving a line back needs of its inventory item: both counters, numbers. */
const HeldStock = z.object({ available: z.number(), reserved: z.number() });

export interface ReleasePlan {
  /** The lines whose units go back to stock. */
  give: ReservationLine[];
  /** The lines that cannot be given back, and why (no personal data: SKUs and counts). */
  keep: UnreleasedLine[];
}

/** Why one line cannot be given back, given its inventory item as stored; undefined when it can. */
function unreleasable(line: ReservationLine, item: Record<string, unknown> | undefined): string | undefined {
  if (!item) return `${line.sku} is no longer in the inventory`;
  const parsed = HeldStock.safeParse(item);
  if (!parsed.success) {
    const paths = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ');
    return `the inventory item of ${line.sku} is malformed (${paths})`;
  }
  if (parsed.data.reserved < line.quantity) {
    return `${line.sku} holds ${parsed.data.reserved} reserved unit(s), fewer than the ${line.quantity} to give back`;
  }
  return undefined;
}

/**
 * What a cancellation can still give back, line by line, after the whole release was refused: each line
 * whose item exists and still counts the units as reserved goes back; the others are kept for an
 * operator — never "fixed" by writing stock that may not exist. Pure.
 */
export function releasePlan(
  lines: readonly ReservationLine[],
  items: ReadonlyMap<string, Record<string, unknown>>,
): ReleasePlan {
  const plan: ReleasePlan = { give: [], keep: [] };
  for (const line of lines) {
    const reason = unreleasable(line, items.get(line.sku));
    if (reason === undefined) plan.give.push(line);
    else plan.keep.push({ ...line, reason });
  }
  return plan;
}

function releaseSummary(unitsReleased: number, kept: readonly UnreleasedLine[]): string {
  if (kept.length === 0) {
    return unitsReleased > 0
      ? `cancelled, ${unitsReleased} unit(s) back in stock`
      : 'cancelled, nothing was reserved';
  }
  return `cancelled, ${unitsReleased} unit(s) back in stock; ${kept.length} line(s) could not be given back`;
}

/** The customer's notice and the KPIs of a cancellation, from the stored order. */
export function cancelledOutcome(
  event: OrderCancelled,
  stored: StoredOrder,
  unitsReleased: number,
  replayed: boolean,
  now: Date,
  kept: readonly UnreleasedLine[] = [],
): StepOutcome {
  const reason = stored.cancellationReason;
  // OrdersCancelled is order-api's (where the cancellation is applied): counted here too, it counted twice.
  const kpis = [latency('StepLatency', event.occurredAt, now)];
  if (unitsReleased > 0) kpis.push(count('StockReleased', unitsReleased));
  return {
    orderId: stored.orderId,
    events: [
      notificationRecord(
        'inventory-release',
        event.eventId,
        orderOf(stored),
        { kind: 'order-cancelled', ...(reason ? { reason } : {}) },
        now,
      ),
    ],
    kpis,
    replayed,
    summary: releaseSummary(unitsReleased, kept),
  };
}
