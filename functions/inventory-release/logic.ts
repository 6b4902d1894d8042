import * as z from 'zod';
import type { ReservationLine } from '../inventory/logic.ts';
import type { UnreleasedLine } from '../shared/orders/model.ts';

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
