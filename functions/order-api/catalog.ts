import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { Money, Sku } from '../../events/schemas/order.ts';

/** What order-api needs of a catalog entry: the inventory table item without the stock. */
export const CatalogPrice = z.object({ sku: Sku, name: z.string(), unitPrice: Money });
export type CatalogPrice = z.infer<typeof CatalogPrice>;

/** The catalog (the inventory table) as order-api reads it; unit tests use a Map. */
export interface CatalogPort {
  /** The entries of the SKUs that exist; an unknown SKU is simply absent. */
  prices(skus: readonly string[]): Promise<Map<string, CatalogPrice>>;
}

/** BatchGetItem takes at most 100 keys, which is also the most lines an order may have. */
const BATCH_LIMIT = 100;
/** UnprocessedKeys (throttling) are retried this many times before the read counts as an outage. */
const UNPROCESSED_RETRIES = 3;

export interface CatalogCacheOptions {
  /**
   * How long a price is reused within one execution environment. Prices change rarely and a warm
   * environment serves bursts of orders for the same few SKUs: 30 s saves a read per request, and a
   * price change reaches every order at most 30 s later. Unknown SKUs are never cached (an attacker's
   * random SKUs cannot fill the cache, and a SKU added to the catalog is orderable at once).
   */
  ttlMs: number;
  maxEntries: number;
  now: () => number;
}

const defaultCache: CatalogCacheOptions = { ttlMs: 30_000, maxEntries: 1_000, now: Date.now };

export function dynamoCatalog(
  client: DynamoDBDocumentClient,
  tableName: string,
  cacheOptions: Partial<CatalogCacheOptions> = {},
): CatalogPort {
  const { ttlMs, maxEntries, now } = { ...defaultCache, ...cacheOptions };
  const cache = new Map<string, { entry: CatalogPrice; expires: number }>();

  async function read(skus: readonly string[]): Promise<CatalogPrice[]> {
    const found: CatalogPrice[] = [];
    let keys: Record<string, unknown>[] = skus.map((sku) => ({ sku }));
    for (let attempt = 0; keys.length > 0; attempt += 1) {
      if (attempt > UNPROCESSED_RETRIES) throw new Error('the catalog read was throttled (unprocessed keys)');
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const answer = await client.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: keys,
              ProjectionExpression: '#sku, #name, #unitPrice',
              ExpressionAttributeNames: { '#sku': 'sku', '#name': 'name', '#unitPrice': 'unitPrice' },
            },
          },
        }),
      );
      for (const item of answer.Responses?.[tableName] ?? []) {
        const parsed = CatalogPrice.safeParse(item);
        // Our own table: an item that does not fit is a data bug, not the client's fault.
        if (!parsed.success) throw new Error(`inventory item ${String(item.sku)} is malformed`);
        found.push(parsed.data);
      }
      keys = answer.UnprocessedKeys?.[tableName]?.Keys ?? [];
    }
    return found;
  }

  return {
    async prices(skus) {
      const at = now();
      const result = new Map<string, CatalogPrice>();
      const missing: string[] = [];
      for (const sku of new Set(skus)) {
        const cached = cache.get(sku);
        if (cached && cached.expires > at) result.set(sku, cached.entry);
        else missing.push(sku);
      }
      for (let start = 0; start < missing.length; start += BATCH_LIMIT) {
        for (const entry of await read(missing.slice(start, start + BATCH_LIMIT))) {
          result.set(entry.sku, entry);
          if (cache.size >= maxEntries) cache.clear();
          cache.set(entry.sku, { entry, expires: at + ttlMs });
        }
      }
      return result;
    },
  };
}
