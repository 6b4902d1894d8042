import { describe, expect, it } from 'vitest';
import { CapacityCounter, itemSize, numberSize, readUnits, writeUnits } from './capacity.ts';

const keys = (table: string) =>
  table === 'orders' ? ['orderId'] : table === 'notes' ? ['orderId', 'noteId'] : ['id'];

describe('item sizes (DynamoDB developer guide formula)', () => {
  it('counts attribute names and UTF-8 string bytes', () => {
    expect(itemSize({ id: { S: 'abc' } })).toBe(2 + 3);
    expect(itemSize({ name: { S: 'é' } })).toBe(4 + 2);
  });

  it('sizes numbers by their significant digits', () => {
    expect(numberSize('7')).toBe(2);
    expect(numberSize('12345')).toBe(4);
    expect(numberSize('-0.00100')).toBe(2);
    expect(numberSize('1000000')).toBe(2);
  });

  it('adds 3 bytes per list or map and 1 byte per element', () => {
    expect(itemSize({ l: { L: [{ S: 'ab' }, { BOOL: true }] } })).toBe(1 + 3 + (2 + 1) + (1 + 1));
    expect(itemSize({ m: { M: { k: { S: 'v' } } } })).toBe(1 + 3 + (1 + 1 + 1));
  });

  it('sizes plain values (document client outputs) like their marshalled form', () => {
    const wire = { id: { S: 'x' }, n: { N: '42' }, list: { L: [{ S: 'a' }, { M: { b: { BOOL: false } } }] } };
    const plain = { id: 'x', n: 42, list: ['a', { b: false }] };
    expect(itemSize(plain)).toBe(itemSize(wire));
    expect(itemSize({ s: new Set(['ab', 'c']) })).toBe(1 + 3);
  });
});

describe('request units', () => {
  it('counts what the endpoint reports, index arms included, and estimates only calls that report nothing', () => {
    const counter = new CapacityCounter(keys);
    const item = { orderId: { S: 'o-1' }, blob: { S: 'x'.repeat(1500) } };
    counter.record(
      'PutItemCommand',
      { TableName: 'orders', Item: item },
      { ConsumedCapacity: { TableName: 'orders', CapacityUnits: 3, Table: { CapacityUnits: 2 } } },
    );
    counter.record(
      'TransactWriteItemsCommand',
      { TransactItems: [{ Update: { TableName: 'orders', Key: { orderId: { S: 'o-1' } } } }] },
      { ConsumedCapacity: [{ TableName: 'orders', CapacityUnits: 5, WriteCapacityUnits: 5 }] },
    );
    expect(counter.byTable.orders).toEqual({ calls: 2, readUnits: 0, writeUnits: 8 });
    // Refused: nothing reported, estimated from the 1.5 KB item it last saw.
    counter.record('PutItemCommand', { TableName: 'orders', Item: item }, undefined);
    expect(counter.byTable.orders).toEqual({ calls: 3, readUnits: 0, writeUnits: 10 });
    counter.record(
      'GetItemCommand',
      { TableName: 'orders', Key: { orderId: { S: 'o-1' } } },
      { Item: item, ConsumedCapacity: { TableName: 'orders', CapacityUnits: 0.5 } },
    );
    expect(counter.byTable.orders).toEqual({ calls: 4, readUnits: 0.5, writeUnits: 10 });
  });

  it('rounds writes up per started KB and reads per started 4 KB', () => {
    expect(writeUnits(0)).toBe(1);
    expect(writeUnits(1024)).toBe(1);
    expect(writeUnits(1025)).toBe(2);
    expect(readUnits(4096, true)).toBe(1);
    expect(readUnits(4097, true)).toBe(2);
    expect(readUnits(100, false)).toBe(0.5);
  });

  it('charges a put by its item, and a later update by the larger size it reaches', () => {
    const counter = new CapacityCounter(keys);
    const big = 'x'.repeat(1500);
    counter.record(
      'PutItemCommand',
      { TableName: 'orders', Item: { orderId: { S: 'o1' }, body: { S: big } } },
      {},
    );
    expect(counter.byTable.orders).toEqual({ calls: 1, readUnits: 0, writeUnits: 2 });
    counter.record(
      'UpdateItemCommand',
      {
        TableName: 'orders',
        Key: { orderId: { S: 'o1' } },
        ExpressionAttributeValues: { ':s': { S: 'x'.repeat(700) } },
      },
      {},
    );
    // About 1.5 KB before, 2.2 KB after: 3 units.
    expect(counter.byTable.orders?.writeUnits).toBe(2 + 3);
  });

  it('doubles transactional writes and still charges a write refused by its condition', () => {
    const counter = new CapacityCounter(keys);
    const transaction = {
      TransactItems: [
        { Put: { TableName: 'notes', Item: { orderId: { S: 'o1' }, noteId: { S: 'n1' } } } },
        { Update: { TableName: 'orders', Key: { orderId: { S: 'o1' } }, ExpressionAttributeValues: {} } },
      ],
    };
    counter.record('TransactWriteItemsCommand', transaction, undefined);
    expect(counter.byTable.notes?.writeUnits).toBe(2);
    expect(counter.byTable.orders?.writeUnits).toBe(2);
    // One request, whatever the tables it touches.
    expect(counter.byTable).toEqual({
      notes: { calls: 1, readUnits: 0, writeUnits: 2 },
      orders: { calls: 0, readUnits: 0, writeUnits: 2 },
    });
  });

  it('charges a strongly consistent get of a missing item one unit, an eventually consistent one half', () => {
    const counter = new CapacityCounter(keys);
    counter.record(
      'GetItemCommand',
      { TableName: 'idem', Key: { id: { S: 'k' } }, ConsistentRead: true },
      {},
    );
    counter.record('GetItemCommand', { TableName: 'idem', Key: { id: { S: 'k' } } }, {});
    expect(counter.byTable.idem?.readUnits).toBe(1.5);
  });

  it('rounds each item of a BatchGetItem on its own and charges missing keys', () => {
    const counter = new CapacityCounter(keys);
    counter.record(
      'BatchGetItemCommand',
      {
        RequestItems: {
          stock: { Keys: [{ id: { S: 'a' } }, { id: { S: 'b' } }, { id: { S: 'c' } }], ConsistentRead: true },
        },
      },
      {
        Responses: {
          stock: [
            { id: 'a', available: 3 },
            { id: 'b', available: 1 },
          ],
        },
      },
    );
    expect(counter.byTable.stock).toEqual({ calls: 1, readUnits: 3, writeUnits: 0 });
  });
});
