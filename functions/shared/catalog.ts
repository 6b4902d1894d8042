import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from './dynamodb.ts';

export interface CatalogEntry {
  sku: string;
  name: string;
  unitPrice: number;
  weightGrams: number;
  initialStock: number;
}

/**
 * The demo shop. The limited vinyl is scarce on purpose: a few orders for it get confirmed, then the
 * next ones are rejected as out of stock.
 */
export const catalog: readonly CatalogEntry[] = [
  { sku: 'SKU-TSHIRT-M', name: 'T-shirt (M)', unitPrice: 19.99, weightGrams: 180, initialStock: 10_000 },
  { sku: 'SKU-HOODIE-L', name: 'Hoodie (L)', unitPrice: 49, weightGrams: 650, initialStock: 5_000 },
  { sku: 'SKU-MUG', name: 'Coffee mug', unitPrice: 12.5, weightGrams: 350, initialStock: 10_000 },
  { sku: 'SKU-POSTER', name: 'Poster', unitPrice: 9.99, weightGrams: 120, initialStock: 20_000 },
  {
    sku: 'SKU-SNEAKERS-42',
    name: 'Running sneakers (42)',
    unitPrice: 89.9,
    weightGrams: 900,
    initialStock: 2_000,
  },
  { sku: 'SKU-BACKPACK', name: 'Backpack', unitPrice: 59, weightGrams: 1_100, initialStock: 2_000 },
  {
    sku: 'SKU-HEADPHONES',
    name: 'Wireless headphones',
    unitPrice: 129,
    weightGrams: 400,
    initialStock: 1_000,
  },
  { sku: 'SKU-VINYL-LTD', name: 'Limited edition vinyl', unitPrice: 39, weightGrams: 300, initialStock: 3 },
];

export const catalogBySku: ReadonlyMap<string, CatalogEntry> = new Map(
  catalog.map((entry) => [entry.sku, entry]),
);

/** An item of the inventory table. */
export interface StockItem {
  sku: string;
  name: string;
  unitPrice: number;
  weightGrams: number;
  available: number;
  reserved: number;
}

export const stockItemOf = (entry: CatalogEntry): StockItem => ({
  sku: entry.sku,
  name: entry.name,
  unitPrice: entry.unitPrice,
  weightGrams: entry.weightGrams,
  available: entry.initialStock,
  reserved: 0,
});

/**
 * Puts each catalog entry's initial stock into the inventory table, unless the SKU is there already
 * (stock that orders have consumed is never reset). The local runtime calls it at start.
 */
export async function seedInventory(
  client: DynamoDBDocumentClient,
  tableName: string,
  entries: readonly CatalogEntry[] = catalog,
): Promise<{ seeded: string[]; existing: string[] }> {
  const seeded: string[] = [];
  const existing: string[] = [];
  for (const entry of entries) {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: stockItemOf(entry),
          ConditionExpression: 'attribute_not_exists(sku)',
        }),
      );
      seeded.push(entry.sku);
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      existing.push(entry.sku);
    }
  }
  return { seeded, existing };
}
