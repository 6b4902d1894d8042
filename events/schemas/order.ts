import * as z from 'zod';

/** Order ids come from clients too (the seed's `order_id`), so they are restricted to URL- and key-safe text. */
export const OrderId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must contain only letters, digits, "-" and "_"');

export const Sku = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Z0-9-]+$/, 'must contain only upper-case letters, digits and "-"');

/** A price in major units with at most two decimals (cents). */
export const Money = z
  .number()
  .nonnegative()
  .max(1_000_000)
  .refine((n) => Number.isInteger(Math.round(n * 100)) && Math.abs(n * 100 - Math.round(n * 100)) < 1e-6, {
    message: 'must have at most two decimals',
  });

export const LineItem = z.object({
  sku: Sku,
  name: z.string().min(1).max(200),
  quantity: z.int().positive().max(1000),
  unitPrice: Money,
});
export type LineItem = z.infer<typeof LineItem>;

export const ShippingAddress = z.object({
  name: z.string().min(1).max(200),
  line1: z.string().min(1).max(200),
  line2: z.string().max(200).optional(),
  city: z.string().min(1).max(100),
  postalCode: z.string().min(1).max(20),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as "US"'),
});
export type ShippingAddress = z.infer<typeof ShippingAddress>;

export const Currency = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"');

export const Order = z.object({
  orderId: OrderId,
  customerId: z.string().min(1).max(128),
  items: z.array(LineItem).min(1, 'must contain at least one item').max(100),
  total: Money,
  currency: Currency,
  shippingAddress: ShippingAddress,
  placedAt: z.iso.datetime({ offset: true }),
});
export type Order = z.infer<typeof Order>;

/** Sum of the lines in cents, so that money never goes through float addition. */
export function totalInCents(items: readonly LineItem[]): number {
  return items.reduce((sum, item) => sum + Math.round(item.unitPrice * 100) * item.quantity, 0);
}
