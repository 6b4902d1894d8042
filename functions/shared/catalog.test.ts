import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { CatalogEntry, catalog, catalogProblems, StockItem, seedInventory, stockItemOf } from './catalog.ts';

const mug = { sku: 'SKU-MUG', name: 'Mug', unitPrice: 12.5, weightGrams: 350, initialStock: 10 };

describe('catalog entries are operator data, checked field by field', () => {
  it('holds for the demo catalog and the stock items it seeds', () => {
    for (const entry of catalog) {
      expect(catalogProblems(CatalogEntry, entry)).toEqual([]);
      expect(catalogProblems(StockItem, stockItemOf(entry))).toEqual([]);
    }
  });

  it.each([
    ['a SKU in lower case', { sku: 'sku-mug' }, 'sku'],
    ['a blank name', { name: ' ' }, 'name'],
    ['no name', { name: undefined }, 'name'],
    ['a price of 12.345', { unitPrice: 12.345 }, 'unitPrice'],
    ['a price of "12.50"', { unitPrice: '12.50' }, 'unitPrice'],
    ['a price of -1', { unitPrice: -1 }, 'unitPrice'],
    ['a price of 0', { unitPrice: 0 }, 'unitPrice'],
    ['a weight of 0', { weightGrams: 0 }, 'weightGrams'],
    ['a fractional weight', { weightGrams: 1.5 }, 'weightGrams'],
    ['a weight as a string', { weightGrams: '350' }, 'weightGrams'],
    ['a negative stock', { initialStock: -1 }, 'initialStock'],
    ['a fractional stock', { initialStock: 0.5 }, 'initialStock'],
  ])('refuses an entry with %s, naming the field', (_, change, field) => {
    const problems = catalogProblems(CatalogEntry, { ...mug, ...change });
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).toMatch(new RegExp(`^${field} `));
  });

  it.each([
    ['a negative available', { available: -1 }, 'available'],
    ['a fractional reserved', { reserved: 0.5 }, 'reserved'],
  ])('refuses a stock item with %s', (_, change, field) => {
    const problems = catalogProblems(StockItem, { ...stockItemOf(mug), ...change });
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^${field} `))]);
  });

  it('seeds nothing from a list with a bad entry, and says which', async () => {
    let sent = 0;
    const client = {
      send: async () => {
        sent += 1;
      },
    } as unknown as DynamoDBDocumentClient;
    await expect(
      seedInventory(client, 'inventory', [mug, { ...mug, sku: 'SKU-BAD', unitPrice: 12.345 }]),
    ).rejects.toThrow(/entries\[1\] \(SKU-BAD\): unitPrice must have at most two decimals/);
    expect(sent).toBe(0);
  });
});
