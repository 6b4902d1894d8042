import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { LineItem, Money, Sku } from '../../events/schemas/order.ts';
import { isConditionalCheckFailed } from './dynamodb.ts';

/** `String.prototype.isWellFormed` (ES2024, Node 20+): false for a lone surrogate. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * The fields of a catalog entry, as an operator writes them (the seed, or the inventory table by hand):
 * operator data, so checked where it is read. A name is what an order line carries (and not blank); a
 * price is a positive number of at most two decimals (a JSON number, never a string); a weight is whole
 * grams; stock counts are whole units.
 */
export const CatalogFields = {
  sku: Sku,
  name: LineItem.shape.name
    .refine((name) => name.trim().length > 0, { message: 'must not be blank' })
    .refine(isWellFormed, { message: 'must be well-formed Unicode' }),
  unitPrice: Money.refine((price) => price > 0, { message: 'must be positive' }),
  weightGrams: z.int().positive().max(1_000_000),
  initialStock: z.int().nonnegative().max(1_000_000_000),
  available: z.int().nonnegative().max(1_000_000_000),
  reserved: z.int().nonnegative().max(1_000_000_000),
} as const;

/** An entry of the catalog the seed writes. */
export const CatalogEntry = z.object({
  sku: CatalogFields.sku,
  name: CatalogFields.name,
  unitPrice: CatalogFields.unitPrice,
  weightGrams: CatalogFields.weightGrams,
  initialStock: CatalogFields.initialStock,
});
export type CatalogEntry = z.infer<typeof CatalogEntry>;

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
export const StockItem = z.object({
  sku: CatalogFields.sku,
  name: CatalogFields.name,
  unitPrice: CatalogFields.unitPrice,
  weightGrams: CatalogFields.weightGrams,
  available: CatalogFields.available,
  reserved: CatalogFields.reserved,
});
export type StockItem = z.infer<typeof StockItem>;

/** Where and why entries do not fit (paths and messages: a catalog holds no personal data). */
export function catalogProblems(schema: z.ZodType, value: unknown): string[] {
  const parsed = schema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || 'entry'} ${i.message}`);
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
  // A bad entry is refused before anything is written: the operator fixes the list, nothing half-seeds.
  const problems = entries.flatMap((entry, index) =>
    catalogProblems(CatalogEntry, entry).map(
      (problem) => `entries[${index}] (${String(entry.sku)}): ${problem}`,
    ),
  );
  if (problems.length > 0) throw new Error(`the catalog to seed is invalid: ${problems.join('; ')}`);
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
