/**
 * TransactWriteItems on the local endpoint (dynoxide): all or nothing, CancellationReasons in order, no
 * overselling under concurrent clients, and a cancelled transaction never undoes what other requests wrote.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  type CancellationReason,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { localDynamoDbConfig } from '../../local/infra/dynamodb.ts';
import { localTableName } from '../../topology/manifest.ts';
import { testDynamoDbClient, testInfra } from '../support/env.ts';

type Item = Record<string, AttributeValue>;

const client = testDynamoDbClient();
afterAll(() => client.destroy());

const inventory = localTableName('inventory');
const orders = localTableName('orders');
const notifications = localTableName('notifications');

const unique = (prefix: string) => `${prefix}-${randomUUID()}`;

async function put(table: string, item: Item): Promise<void> {
  await client.send(new PutItemCommand({ TableName: table, Item: item }));
}

async function get(table: string, key: Item): Promise<Item | undefined> {
  return (await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
}

async function stockOf(sku: string): Promise<number> {
  const available = (await get(inventory, { sku: { S: sku } }))?.available?.N;
  if (available === undefined) throw new Error(`no stock item ${sku}`);
  return Number(available);
}

/** The orders in one outbox shard, through the sparse index (it must follow the table's items). */
async function outboxOrderIds(shard: string): Promise<string[]> {
  const { Items = [] } = await client.send(
    new QueryCommand({
      TableName: orders,
      IndexName: 'outbox',
      KeyConditionExpression: 'outboxShard = :s',
      ExpressionAttributeValues: { ':s': { S: shard } },
    }),
  );
  return Items.map((item) => item.orderId?.S ?? '').sort();
}

async function notificationIds(orderId: string): Promise<string[]> {
  const { Items = [] } = await client.send(
    new QueryCommand({
      TableName: notifications,
      KeyConditionExpression: 'orderId = :o',
      ExpressionAttributeValues: { ':o': { S: orderId } },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => item.notificationId?.S ?? '').sort();
}

const reserve = (sku: string, quantity: number): TransactWriteItem => ({
  Update: {
    TableName: inventory,
    Key: { sku: { S: sku } },
    UpdateExpression: 'SET available = available - :q',
    ConditionExpression: 'available >= :q',
    ExpressionAttributeValues: { ':q': { N: String(quantity) } },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  },
});

/** Settles a transaction: undefined when it was applied, its cancellation reasons when cancelled. */
async function transact(
  items: TransactWriteItem[],
  via: DynamoDBClient = client,
): Promise<CancellationReason[] | undefined> {
  try {
    await via.send(new TransactWriteItemsCommand({ TransactItems: items }));
    return undefined;
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    return error.CancellationReasons ?? [];
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected the request to be refused');
  return error;
}

/**
 * Seven operations on four tables' worth of shapes: updates, a delete, a condition check, puts that
 * overwrite and puts that create, on hash-only and hash+range tables, with an indexed attribute.
 */
async function mixedTransaction(scarceNeeds: number) {
  const plenty = unique('SKU-plenty');
  const checked = unique('SKU-checked');
  const scarce = unique('SKU-scarce');
  const shard = unique('shard');
  const doomed = unique('ord-doomed');
  const created = unique('ord-created');
  const notified = unique('ord-notified');
  await put(inventory, { sku: { S: plenty }, available: { N: '10' } });
  await put(inventory, { sku: { S: checked }, available: { N: '5' } });
  await put(inventory, { sku: { S: scarce }, available: { N: '1' }, name: { S: 'scarce' } });
  await put(orders, {
    orderId: { S: doomed },
    status: { S: 'RECEIVED' },
    outboxShard: { S: shard },
    placedAt: { S: '2026-01-01T00:00:00.000Z' },
  });
  await put(notifications, { orderId: { S: notified }, notificationId: { S: 'a' }, channel: { S: 'email' } });

  const keys = {
    plenty: [inventory, { sku: { S: plenty } }],
    checked: [inventory, { sku: { S: checked } }],
    scarce: [inventory, { sku: { S: scarce } }],
    doomed: [orders, { orderId: { S: doomed } }],
    created: [orders, { orderId: { S: created } }],
    overwritten: [notifications, { orderId: { S: notified }, notificationId: { S: 'a' } }],
    added: [notifications, { orderId: { S: notified }, notificationId: { S: 'b' } }],
  } as const;
  const items: TransactWriteItem[] = [
    reserve(plenty, 2),
    {
      Delete: {
        TableName: orders,
        Key: keys.doomed[1],
        ConditionExpression: '#s = :r',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':r': { S: 'RECEIVED' } },
      },
    },
    {
      ConditionCheck: {
        TableName: inventory,
        Key: keys.checked[1],
        ConditionExpression: 'available >= :min',
        ExpressionAttributeValues: { ':min': { N: '5' } },
      },
    },
    reserve(scarce, scarceNeeds),
    {
      Put: {
        TableName: orders,
        Item: {
          orderId: { S: created },
          status: { S: 'RECEIVED' },
          outboxShard: { S: shard },
          placedAt: { S: '2026-01-02T00:00:00.000Z' },
        },
        ConditionExpression: 'attribute_not_exists(orderId)',
      },
    },
    {
      Put: {
        TableName: notifications,
        Item: { ...keys.overwritten[1], channel: { S: 'sms' } },
      },
    },
    {
      Put: {
        TableName: notifications,
        Item: { ...keys.added[1], channel: { S: 'email' } },
        ConditionExpression: 'attribute_not_exists(orderId)',
      },
    },
  ];
  const snapshot = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(keys).map(async ([name, [table, key]]) => [name, await get(table, key)] as const),
      ),
    );
  return { items, snapshot, shard, doomed, created, notified };
}

describe('TransactWriteItems on the local endpoint', () => {
  it('changes nothing when one condition fails, and gives every reason in order', async () => {
    const { items, snapshot, shard, doomed, notified } = await mixedTransaction(2);
    const before = await snapshot();

    const reasons = await transact(items);

    expect(reasons?.map((r) => r.Code)).toEqual([
      'None',
      'None',
      'None',
      'ConditionalCheckFailed',
      'None',
      'None',
      'None',
    ]);
    // ReturnValuesOnConditionCheckFailure: the failed item as it was stored.
    expect(reasons?.[3]?.Item).toEqual(before.scarce);
    // Updated, deleted, overwritten and created items all as before; the index follows.
    expect(await snapshot()).toEqual(before);
    expect(before.created).toBeUndefined();
    expect(before.added).toBeUndefined();
    expect(await outboxOrderIds(shard)).toEqual([doomed]);
    expect(await notificationIds(notified)).toEqual(['a']);
  });

  it('writes nothing of a transaction when one condition fails, and says which one', async () => {
    const [plenty, scarce, orderId] = [unique('SKU'), unique('SKU'), unique('ord')];
    await put(inventory, { sku: { S: plenty }, available: { N: '10' } });
    await put(inventory, { sku: { S: scarce }, available: { N: '1' } });
    const create = { orderId: { S: orderId }, status: { S: 'CONFIRMED' } };
    const reasons = await transact([
      reserve(plenty, 2),
      reserve(scarce, 2),
      { Put: { TableName: orders, Item: create, ConditionExpression: 'attribute_not_exists(orderId)' } },
    ]);

    expect(reasons?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed', 'None']);
    expect(await stockOf(plenty)).toBe(10);
    expect(await stockOf(scarce)).toBe(1);
    expect(await get(orders, { orderId: { S: orderId } })).toBeUndefined();
  });

  it('applies every operation when all conditions hold', async () => {
    const { items, snapshot, shard, created, notified } = await mixedTransaction(1);
    const before = await snapshot();

    expect(await transact(items)).toBeUndefined();

    const after = await snapshot();
    expect(after.plenty?.available).toEqual({ N: '8' });
    expect(after.scarce).toEqual({ ...before.scarce, available: { N: '0' } });
    expect(after.checked).toEqual(before.checked);
    expect(after.doomed).toBeUndefined();
    expect(after.created?.status).toEqual({ S: 'RECEIVED' });
    expect(after.overwritten?.channel).toEqual({ S: 'sms' });
    expect(after.added?.channel).toEqual({ S: 'email' });
    expect(await outboxOrderIds(shard)).toEqual([created]);
    expect(await notificationIds(notified)).toEqual(['a', 'b']);
  });

  it('refuses a transaction it cannot apply whole (one item named twice, a bad operand) and writes none of it', async () => {
    const sku = unique('SKU-twice');
    await put(inventory, { sku: { S: sku }, available: { N: '10' }, name: { S: 'twice' } });
    const before = await get(inventory, { sku: { S: sku } });
    const newOrder = (orderId: string): TransactWriteItem => ({
      Put: { TableName: orders, Item: { orderId: { S: orderId }, status: { S: 'RECEIVED' } } },
    });

    const twice = unique('ord-twice');
    const duplicate = await rejection(
      client.send(
        new TransactWriteItemsCommand({ TransactItems: [reserve(sku, 1), newOrder(twice), reserve(sku, 1)] }),
      ),
    );
    expect(duplicate.name).toBe('ValidationException');
    expect(duplicate.message).toMatch(/multiple operations on one item/);

    // The put comes first: an endpoint applying operations in order would have written it before the
    // update finds a string operand. DynamoDB cancels the transaction, with a ValidationError reason.
    const operand = unique('ord-operand');
    const badOperand = await rejection(
      client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            newOrder(operand),
            {
              Update: {
                TableName: inventory,
                Key: { sku: { S: sku } },
                UpdateExpression: 'SET available = #n - :q',
                ExpressionAttributeNames: { '#n': 'name' },
                ExpressionAttributeValues: { ':q': { N: '1' } },
              },
            },
          ],
        }),
      ),
    );
    expect(badOperand).toBeInstanceOf(TransactionCanceledException);
    expect((badOperand as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      'None',
      'ValidationError',
    ]);

    expect(await get(inventory, { sku: { S: sku } })).toEqual(before);
    expect(await get(orders, { orderId: { S: twice } })).toBeUndefined();
    expect(await get(orders, { orderId: { S: operand } })).toBeUndefined();
  });

  it('never oversells one stock item to 50 concurrent clients, and the stock adds up', async () => {
    const sku = unique('SKU-contended');
    const run = unique('ord-run');
    await put(inventory, { sku: { S: sku }, available: { N: '20' } });
    const { dynamodbEndpoint } = testInfra();
    const clients = Array.from(
      { length: 50 },
      () => new DynamoDBClient(localDynamoDbConfig(dynamodbEndpoint)),
    );
    const quantity = (i: number) => (i % 3) + 1;

    let outcomes: (CancellationReason[] | undefined)[];
    try {
      outcomes = await Promise.all(
        clients.map((each, i) =>
          transact(
            [
              reserve(sku, quantity(i)),
              {
                Put: {
                  TableName: notifications,
                  Item: { orderId: { S: run }, notificationId: { S: `r${i}` } },
                  ConditionExpression: 'attribute_not_exists(notificationId)',
                },
              },
            ],
            each,
          ),
        ),
      );
    } finally {
      for (const each of clients) each.destroy();
    }

    const reserved = outcomes.flatMap((outcome, i) => (outcome === undefined ? [i] : []));
    const left = await stockOf(sku);
    expect(left).toBeGreaterThanOrEqual(0);
    expect(left).toBe(20 - reserved.reduce((sum, i) => sum + quantity(i), 0));
    expect(reserved.length).toBeGreaterThan(0);
    // Stock only goes down, so every refused reservation wanted more than is left now.
    outcomes.forEach((outcome, i) => {
      if (outcome === undefined) return;
      expect(outcome.map((r) => r.Code)).toEqual(['ConditionalCheckFailed', 'None']);
      expect(quantity(i)).toBeGreaterThan(left);
    });
    // A reservation's record exists exactly when its stock was taken.
    expect(await notificationIds(run)).toEqual(reserved.map((i) => `r${i}`).sort());
  });

  it('never undoes writes that other requests made to the same table before or between cancelled transactions', async () => {
    const scarce = unique('SKU-scarce');
    const touched = unique('SKU-touched');
    await put(inventory, { sku: { S: scarce }, available: { N: '0' } });
    await put(inventory, { sku: { S: touched }, available: { N: '5' } });

    // Just before: the item the transaction will name, and a new item in the same table.
    const neighbour = unique('SKU-neighbour');
    await client.send(
      new UpdateItemCommand({
        TableName: inventory,
        Key: { sku: { S: touched } },
        UpdateExpression: 'SET available = :v',
        ExpressionAttributeValues: { ':v': { N: '7' } },
      }),
    );
    await put(inventory, { sku: { S: neighbour }, available: { N: '3' } });
    expect((await transact([reserve(touched, 1), reserve(scarce, 1)]))?.map((r) => r.Code)).toEqual([
      'None',
      'ConditionalCheckFailed',
    ]);
    expect(await stockOf(touched)).toBe(7);
    expect(await stockOf(neighbour)).toBe(3);

    // Interleaved: 30 cancelled transactions, each first reserving from its own item, racing 30 counter
    // increments and 30 new items in the same table.
    const counter = unique('SKU-counter');
    await put(inventory, { sku: { S: counter }, available: { N: '0' } });
    const own = Array.from({ length: 30 }, () => unique('SKU-own'));
    const fresh = Array.from({ length: 30 }, () => unique('SKU-fresh'));
    for (const sku of own) await put(inventory, { sku: { S: sku }, available: { N: '4' } });

    const writes: Promise<unknown>[] = [];
    const transactions = own.map((sku, i) => {
      const reasons = transact([reserve(sku, 1), reserve(scarce, 1)]);
      writes.push(
        client.send(
          new UpdateItemCommand({
            TableName: inventory,
            Key: { sku: { S: counter } },
            UpdateExpression: 'ADD available :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        ),
        put(inventory, { sku: { S: fresh[i] ?? '' }, available: { N: '1' } }),
      );
      return reasons;
    });
    const [outcomes] = await Promise.all([Promise.all(transactions), Promise.all(writes)]);

    for (const outcome of outcomes) {
      expect(outcome?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed']);
    }
    expect(await stockOf(counter)).toBe(30);
    for (const sku of fresh) expect(await stockOf(sku)).toBe(1);
    for (const sku of own) expect(await stockOf(sku)).toBe(4);
    expect(await stockOf(scarce)).toBe(0);
  });
});
