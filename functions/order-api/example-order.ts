/**
 * The example order request: what the README shows, `npm start` prints as a curl line, the benchmark
 * sends and order-api's handler test posts. One shape, so that all of them show what order-api accepts.
 */
import type { OrderRequest, RequestLineItem } from '../../events/schemas/order-request.ts';
import { catalogBySku } from '../shared/catalog.ts';

/** A line of a `POST /orders` body, with the client's name and unit price (order-api checks both). */
export type OrderRequestLine = Required<RequestLineItem>;

/** A `POST /orders` body (camelCase; `orderId` the caller's own, when it picks one). */
export type OrderRequestBody = Pick<OrderRequest, 'customerId' | 'shippingAddress'> & {
  orderId?: string;
  items: OrderRequestLine[];
};

/** The README's lines: two T-shirts and a mug. */
const README_LINES = [
  { sku: 'SKU-TSHIRT-M', quantity: 2 },
  { sku: 'SKU-MUG', quantity: 1 },
] as const;

/** Lines of catalog SKUs, named and priced as the catalog names and prices them. */
export function catalogLines(
  lines: readonly { sku: string; quantity: number }[] = README_LINES,
): OrderRequestLine[] {
  return lines.map(({ sku, quantity }) => {
    const entry = catalogBySku.get(sku);
    if (!entry) throw new Error(`SKU ${sku} is not in the catalog`);
    return { sku, name: entry.name, quantity, unitPrice: entry.unitPrice };
  });
}

/** An order request of `items` for `customerId`, to the example's shipping address. */
export function exampleOrder(
  customerId = 'cust-42',
  items: readonly OrderRequestLine[] = catalogLines(),
): OrderRequestBody {
  return {
    customerId,
    items: [...items],
    shippingAddress: {
      name: 'Ada Lovelace',
      line1: '1 Main St',
      city: 'Seattle',
      postalCode: '98101',
      country: 'US',
    },
  };
}
