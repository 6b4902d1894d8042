import * as z from 'zod';
import { CancellationReason } from './events.ts';
import { Currency, Money, OrderId, ShippingAddress, Sku, totalInCents } from './order.ts';

/**
 * The body of `POST /orders`. camelCase is canonical; the seed's snake_case keys
 * (`order_id`, `customer_id`, `unit_price`, `shipping_address`, `postal_code`) are accepted too,
 * so `{"order_id":"123","customer_id":"John","items":[],"total":100}` is parsed and then rejected
 * with a precise reason ("items: must contain at least one item").
 *
 * Prices are the catalog's: a line's `name` and `unitPrice` and the order's `total` are optional, and
 * order-api refuses any that disagree with the catalog (that needs I/O, so it is not in this schema).
 */
export const snakeToCamel = (key: string): string =>
  key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Deeper than any order can be. camelizeKeys stops descending there (order-api refuses deeper bodies
 * before parsing them), so no body can make this recursion overflow the stack.
 */
export const MAX_REQUEST_DEPTH = 8;

function camelizeKeys(value: unknown, depth = 0): unknown {
  if (depth >= MAX_REQUEST_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => camelizeKeys(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [snakeToCamel(k), camelizeKeys(v, depth + 1)]),
    );
  }
  return value;
}

/** A line as a client sends it: what and how many; the catalog says what it is called and costs. */
export const RequestLineItem = z.strictObject({
  sku: Sku,
  quantity: z.int().positive().max(1000),
  name: z.string().min(1).max(200).optional(),
  unitPrice: Money.optional(),
});
export type RequestLineItem = z.infer<typeof RequestLineItem>;

export const OrderRequest = z.preprocess(
  (value) => camelizeKeys(value),
  z
    .strictObject({
      orderId: OrderId.optional(),
      customerId: z.string().min(1).max(128),
      items: z.array(RequestLineItem).min(1, 'must contain at least one item').max(100),
      total: Money.optional(),
      currency: Currency.default('USD'),
      shippingAddress: ShippingAddress.strict(),
    })
    .superRefine((order, ctx) => {
      const skus = new Set<string>();
      order.items.forEach((item, index) => {
        if (skus.has(item.sku)) {
          ctx.addIssue({
            code: 'custom',
            path: ['items', index, 'sku'],
            message: 'appears twice; merge the lines',
          });
        }
        skus.add(item.sku);
      });
      // A client that states every price and the total must at least add up; the catalog check follows.
      const priced = order.items.flatMap((item) =>
        item.unitPrice === undefined ? [] : [{ ...item, unitPrice: item.unitPrice }],
      );
      if (order.total === undefined || priced.length !== order.items.length) return;
      const expected = totalInCents(priced.map((item) => ({ ...item, name: item.name ?? item.sku })));
      if (Math.round(order.total * 100) !== expected) {
        ctx.addIssue({
          code: 'custom',
          path: ['total'],
          message: `does not match the items: expected ${(expected / 100).toFixed(2)}`,
        });
      }
    }),
);
export type OrderRequest = z.infer<typeof OrderRequest>;

/** The body of `POST /orders/{id}/cancel` (optional: an empty body cancels without a reason). */
export const CancelRequest = z.strictObject({ reason: CancellationReason.optional() });
export type CancelRequest = z.infer<typeof CancelRequest>;
