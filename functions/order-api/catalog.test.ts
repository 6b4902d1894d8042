import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { dynamoCatalog } from './catalog.ts';

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
    expect((await dynamoCatalog(client, 'inventory').prices(['SKU-A'])).get('SKU-A')).toEqual(item('SKU-A'));
    const stuck = fakeClient([unprocessed, unprocessed, unprocessed, unprocessed, unprocessed]);
    await expect(dynamoCatalog(stuck.client, 'inventory').prices(['SKU-A'])).rejects.toThrow(/throttled/);
  });

  it('refuses a malformed catalog item as our data bug, not as an unknown SKU', async () => {
    const { client } = fakeClient([
      () => ({ Responses: { inventory: [{ sku: 'SKU-A', unitPrice: 'free' }] } }),
    ]);
    await expect(dynamoCatalog(client, 'inventory').prices(['SKU-A'])).rejects.toThrow(/malformed/);
  });
});
