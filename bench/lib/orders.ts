/** The orders a run sends: demo SKUs, deterministic from the order's index, so a run can be repeated. */

import { exampleOrder, type OrderRequestBody } from '../../functions/order-api/example-order.ts';
import type { CatalogEntry } from '../../functions/shared/catalog.ts';

/** What a run posts: the example order request with the run's own order id. */
export type OrderBody = OrderRequestBody & { orderId: string };

/** Order `index` of run `runId`: one to three lines of one or two units each. */
export function benchOrder(runId: string, index: number, entries: readonly CatalogEntry[]): OrderBody {
  const lines = 1 + (index % 3);
  const items = Array.from({ length: lines }, (_, line) => {
    const entry = entries[(index + line * 3) % entries.length] as CatalogEntry;
    return {
      sku: entry.sku,
      name: entry.name,
      quantity: 1 + ((index + line) % 2),
      unitPrice: entry.unitPrice,
    };
  });
  return { orderId: `bench-${runId}-${index}`, ...exampleOrder(`cust-${index % 97}`, items) };
}

/** The most units of one SKU that `count` orders can ask for (a safe stock level). */
export const stockFor = (count: number): number => Math.max(100, count * 2 * 3);
