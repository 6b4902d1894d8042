import { z } from 'zod';
import { Currency, LineItem, Money, OrderId, ShippingAddress, totalInCents } from './order.ts';

/**
 * The body of `POST /orders`. camelCase is canonical; the seed's snake_case keys
 * (`order_id`, `customer_id`, `unit_price`, `shipping_address`, `postal_code`) are accepted too,
 * so `{"order_id":"123","customer_id":"John","items":[],"total":100}` is parsed and then rejected
 * with a precise reason ("items: must contain at least one item").
 */
const snakeToCamel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function camelizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelizeKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeToCamel(k), camelizeKeys(v)]));
  }
  return value;
}

export const OrderRequest = z.preprocess(
  camelizeKeys,
  z
    .strictObject({
      orderId: OrderId.optional(),
      customerId: z.string().min(1).max(128),
      items: z.array(LineItem.strict()).min(1, 'must contain at least one item').max(100),
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
      if (order.total === undefined) return;
      const expected = totalInCents(order.items);
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
