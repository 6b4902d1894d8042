import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type * as z from 'zod';
import { CatalogFields, StockItem } from '../shared/catalog.ts';
import { fullJitter, retry } from '../shared/retry.ts';

/** The metric (and ERROR log line) of a catalog entry that cannot be sold: the operator's alarm. */
export const CATALOG_ITEM_INVALID = 'CatalogItemInvalid';

/** What order-api needs of a catalog entry: the inventory table item without the stock. */
export const CatalogPrice = StockItem.pick({ sku: true, name: true, unitPrice: true });
export type CatalogPrice = z.infer<typeof CatalogPrice>;

/**
 * A SKU's catalog entry as read: sellable, or present but invalid (operator data that does not fit,
 * e.g. a price of `12.345`, `"12.50"` or `-1`, or no name). An invalid entry is not an outage: the order
 * is refused with a reason and the operator alerted, and the next read sees the fixed entry at once.
 */
export type CatalogLookup =
  | { sellable: true; entry: CatalogPrice }
  | { sellable: false; sku: string; problems: string[] };

/** The lookup of one item of the inventory table, `sku` being its key. Pure. */
export function catalogLookupOf(sku: string, item: Readonly<Record<string, unknown>>): CatalogLookup {
  const parsed = CatalogPrice.safeParse({ ...item, sku });
  if (parsed.success) return { sellable: true, entry: parsed.data };
  // Paths and zod's messages only, never the values: safe for a log line.
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'item'} ${i.message}`);
  return { sellable: false, sku, problems };
}

/** The catalog (the inventory table) as order-api reads it; unit tests use a Map. */
export interface CatalogPort {
  /**
   * The lookups of the SKUs that exist; an unknown SKU is simply absent. `fresh` reads past the cache
   * (a client may already know a price changed within the cache period).
   */
  prices(skus: readonly string[], options?: { fresh?: boolean }): Promise<Map<string, CatalogLookup>>;
}

/** BatchGetItem takes at most 100 keys, which is also the most lines an order may have. */
const BATCH_LIMIT = 100;
/** UnprocessedKeys (throttling) are retried this many times before the read counts as an outage. */
const UNPROCESSED_RETRIES = 3;

/**
 * BatchGetItem left keys unprocessed (their partition throttled) past the retries: the read is throttled
 * (order-api answers 503 `throttled` with Retry-After), never a missing SKU.
 */
export class CatalogThrottledError extends Error {
  override readonly name = 'CatalogThrottledError';
}

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

  async function read(skus: readonly string[]): Promise<CatalogLookup[]> {
    const found: CatalogLookup[] = [];
    let keys: Record<string, unknown>[] = skus.map((sku) => ({ sku }));
    if (keys.length === 0) return found;
    // Full jitter, as DynamoDB advises for unprocessed keys: concurrent readers do not retry in step.
    await retry(
      async () => {
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
          // The key read (the table's key, so a valid SKU); the item's other fields are operator data.
          const sku = CatalogFields.sku.safeParse(item.sku);
          if (sku.success) found.push(catalogLookupOf(sku.data, item));
        }
        keys = answer.UnprocessedKeys?.[tableName]?.Keys ?? [];
        if (keys.length > 0) {
          throw new CatalogThrottledError('the catalog read was throttled (unprocessed keys)');
        }
      },
      {
        attempts: 1 + UNPROCESSED_RETRIES,
        delay: fullJitter({ baseMs: 100, capMs: 1_000 }),
        retryIf: (error) => error instanceof CatalogThrottledError,
      },
    );
    return found;
  }

  return {
    async prices(skus, options = {}) {
      const at = now();
      const result = new Map<string, CatalogLookup>();
      const missing: string[] = [];
      for (const sku of new Set(skus)) {
        const cached = options.fresh ? undefined : cache.get(sku);
        if (cached && cached.expires > at) result.set(sku, { sellable: true, entry: cached.entry });
        else missing.push(sku);
      }
      for (let start = 0; start < missing.length; start += BATCH_LIMIT) {
        for (const lookup of await read(missing.slice(start, start + BATCH_LIMIT))) {
          const sku = lookup.sellable ? lookup.entry.sku : lookup.sku;
          result.set(sku, lookup);
          // Only valid entries are cached: a fixed entry is sellable at the next order.
          if (!lookup.sellable) {
            cache.delete(sku);
            continue;
          }
          if (cache.size >= maxEntries) cache.clear();
          cache.set(sku, { entry: lookup.entry, expires: at + ttlMs });
        }
      }
      return result;
    },
  };
}
