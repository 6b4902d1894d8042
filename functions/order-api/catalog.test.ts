import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { catalogLookupOf, dynamoCatalog } from './catalog.ts';

type Answer = {
  Responses?: Record<string, unknown[]>;
  UnprocessedKeys?: Record<string, { Keys: unknown[] }>;
};

/** A document client that records BatchGetItem inputs and answers from a script. */
function fakeClient(answers: ((keys: { sku: string }[]) => Answer)[]) {
  const inputs: { Keys: { sku: string }[]; ProjectionExpression: string }[] = [];
  const client = {
    send: async (command: { input: { RequestItems: Record<string, (typeof inputs)[number]> } }) => {
      const request = command.input.RequestItems.inventory!;
      inputs.push(request);
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      return next(request.Keys);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, inputs };
}

const item = (sku: string, unitPrice = 1) => ({ sku, name: `name of ${sku}`, unitPrice });
const found = (keys: { sku: string }[]) => ({
  Responses: { inventory: keys.filter((k) => k.sku !== 'SKU-NONE').map((k) => item(k.sku)) },
});

describe('catalog over the inventory table', () => {
  it('reads the SKUs in one BatchGetItem, projecting only the price fields; unknown SKUs are absent', async () => {
    const { client, inputs } = fakeClient([found]);
    const prices = await dynamoCatalog(client, 'inventory').prices(['SKU-A', 'SKU-NONE', 'SKU-A']);
    expect([...prices.keys()]).toEqual(['SKU-A']);
    expect(inputs).toHaveLength(1);
    expect(inputs[0]?.Keys).toEqual([{ sku: 'SKU-A' }, { sku: 'SKU-NONE' }]);
    expect(inputs[0]?.ProjectionExpression).toBe('#sku, #name, #unitPrice');
  });

  it('reuses prices for the cache period, never caches unknown SKUs, and reads again after it', async () => {
    let now = 0;
    const { client, inputs } = fakeClient([found, found, found]);
    const catalog = dynamoCatalog(client, 'inventory', { ttlMs: 30_000, now: () => now });
    await catalog.prices(['SKU-A', 'SKU-NONE']);
    now = 29_999;
    await catalog.prices(['SKU-A', 'SKU-NONE']);
    expect(inputs[1]?.Keys).toEqual([{ sku: 'SKU-NONE' }]);
    now = 30_000;
    await catalog.prices(['SKU-A']);
    expect(inputs[2]?.Keys).toEqual([{ sku: 'SKU-A' }]);
  });

  it('retries unprocessed keys a few times, then fails as an outage', async () => {
    const unprocessed = (keys: { sku: string }[]) => ({ UnprocessedKeys: { inventory: { Keys: keys } } });
    const { client } = fakeClient([unprocessed, found]);
    expect((await dynamoCatalog(client, 'inventory').prices(['SKU-A'])).get('SKU-A')).toEqual({
      sellable: true,
      entry: item('SKU-A'),
    });
    const stuck = fakeClient([unprocessed, unprocessed, unprocessed, unprocessed, unprocessed]);
    // Named, so that order-api answers it 503 throttled with Retry-After (failures.ts).
    await expect(dynamoCatalog(stuck.client, 'inventory').prices(['SKU-A'])).rejects.toMatchObject({
      name: 'CatalogThrottledError',
      message: expect.stringMatching(/throttled/),
    });
  });

  it('answers a malformed item as not sellable (not an outage, not unknown), never caches it, and sees its fix at once', async () => {
    const bad = () => ({ Responses: { inventory: [{ sku: 'SKU-A', name: 'A', unitPrice: '12.50' }] } });
    const { client, inputs } = fakeClient([bad, found]);
    const catalog = dynamoCatalog(client, 'inventory');
    expect((await catalog.prices(['SKU-A'])).get('SKU-A')).toEqual({
      sellable: false,
      sku: 'SKU-A',
      problems: [expect.stringMatching(/^unitPrice /)],
    });
    expect((await catalog.prices(['SKU-A'])).get('SKU-A')).toMatchObject({ sellable: true });
    expect(inputs).toHaveLength(2);
  });

  it('reads past the cache when asked for fresh entries, and caches what it read', async () => {
    const priced = (unitPrice: number) => (keys: { sku: string }[]) => ({
      Responses: { inventory: keys.map((k) => item(k.sku, unitPrice)) },
    });
    const { client, inputs } = fakeClient([priced(1), priced(2)]);
    const catalog = dynamoCatalog(client, 'inventory');
    await catalog.prices(['SKU-A']);
    const fresh = await catalog.prices(['SKU-A'], { fresh: true });
    expect(fresh.get('SKU-A')).toEqual({ sellable: true, entry: item('SKU-A', 2) });
    expect((await catalog.prices(['SKU-A'])).get('SKU-A')).toEqual({
      sellable: true,
      entry: item('SKU-A', 2),
    });
    expect(inputs).toHaveLength(2);
  });
});

describe('a catalog entry as order-api reads it: every field is operator data, checked', () => {
  const good = { sku: 'SKU-A', name: 'Mug', unitPrice: 12.5, weightGrams: 1, available: 1, reserved: 0 };
  it('sells a valid entry (stock fields are not its business), at the price as a number', () => {
    expect(catalogLookupOf('SKU-A', good)).toEqual({
      sellable: true,
      entry: { sku: 'SKU-A', name: 'Mug', unitPrice: 12.5 },
    });
    expect(catalogLookupOf('SKU-A', { ...good, unitPrice: 0.01 }).sellable).toBe(true);
    expect(catalogLookupOf('SKU-A', { ...good, unitPrice: 1_000_000 }).sellable).toBe(true);
  });

  it.each([
    ['a price with three decimals', { unitPrice: 12.345 }, 'unitPrice'],
    ['a price as a string', { unitPrice: '12.50' }, 'unitPrice'],
    ['a negative price', { unitPrice: -1 }, 'unitPrice'],
    ['a price of zero', { unitPrice: 0 }, 'unitPrice'],
    ['a price over the maximum', { unitPrice: 1_000_000.01 }, 'unitPrice'],
    ['no price', { unitPrice: undefined }, 'unitPrice'],
    ['a price of null', { unitPrice: null }, 'unitPrice'],
    ['no name', { name: undefined }, 'name'],
    ['an empty name', { name: '' }, 'name'],
    ['a blank name', { name: '   ' }, 'name'],
    ['a name longer than an order line takes', { name: 'x'.repeat(201) }, 'name'],
    ['a name with a lone surrogate', { name: 'Mug \ud800' }, 'name'],
    ['a name that is not a string', { name: 42 }, 'name'],
  ])('does not sell an entry with %s, saying which field', (_, change, field) => {
    const lookup = catalogLookupOf('SKU-A', { ...good, ...change });
    expect(lookup).toMatchObject({ sellable: false, sku: 'SKU-A' });
    const problems = lookup.sellable ? [] : lookup.problems;
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).toMatch(new RegExp(`^${field} `));
  });

  it('never quotes the bad value in its problems (they go to the logs)', () => {
    const lookup = catalogLookupOf('SKU-A', { ...good, name: 'secret-ish value'.repeat(20) });
    expect(JSON.stringify(lookup)).not.toContain('secret-ish');
  });
});
