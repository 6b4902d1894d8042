/**
 * The local endpoints themselves, each test on a server of its own in a directory of its own. DynamoDB
 * (dynoxide): its state survives a SIGKILL and a restart (items, indexes, TTL settings, transactions,
 * conditions), a failed write leaves nothing, concurrent conditional writes have one winner, `reset` starts
 * empty. SNS (moto behind local/python/moto_sns_server.py): it answers over kept-alive HTTP/1.1 connections.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { localDynamoDbConfig, type RunningDynamoDb, startDynamoDb } from '../../local/infra/dynamodb.ts';
import { findFreePort } from '../../local/infra/process.ts';
import { type RunningSns, startSns } from '../../local/infra/sns.ts';

type Item = Record<string, AttributeValue>;

const dirs: string[] = [];
const servers = new Set<RunningDynamoDb>();
const clients = new Set<DynamoDBClient>();

afterEach(async () => {
  for (const client of clients) client.destroy();
  clients.clear();
  await Promise.all([...servers].map((server) => server.stop()));
  servers.clear();
});
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dynamodb-server-test-'));
  dirs.push(dir);
  return dir;
}

async function start(dir: string, options: { reset?: boolean } = {}): Promise<RunningDynamoDb> {
  const server = await startDynamoDb({
    port: await findFreePort(),
    dir,
    log: () => {},
    reset: options.reset,
  });
  servers.add(server);
  return server;
}

function clientOf(server: RunningDynamoDb): DynamoDBClient {
  const client = new DynamoDBClient({ ...localDynamoDbConfig(server.endpoint), maxAttempts: 1 });
  clients.add(client);
  return client;
}

/** SIGKILL: nothing gets a chance to save anything. */
async function kill(server: RunningDynamoDb): Promise<void> {
  process.kill(server.process.pid, 'SIGKILL');
  const { signal } = await server.process.exited;
  expect(signal).toBe('SIGKILL');
  servers.delete(server);
}

async function createTable(client: DynamoDBClient, name: string, withIndex = false): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        ...(withIndex ? [{ AttributeName: 'shard', AttributeType: 'S' as const }] : []),
      ],
      ...(withIndex
        ? {
            GlobalSecondaryIndexes: [
              {
                IndexName: 'by-shard',
                KeySchema: [
                  { AttributeName: 'shard', KeyType: 'HASH' },
                  { AttributeName: 'sk', KeyType: 'RANGE' },
                ],
                Projection: { ProjectionType: 'ALL' },
              },
            ],
          }
        : {}),
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

const key = (pk: string, sk = '-'): Item => ({ pk: { S: pk }, sk: { S: sk } });

async function get(client: DynamoDBClient, table: string, item: Item): Promise<Item | undefined> {
  return (await client.send(new GetItemCommand({ TableName: table, Key: item, ConsistentRead: true }))).Item;
}

async function scanAll(client: DynamoDBClient, table: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort((a, b) => `${a.pk?.S}/${a.sk?.S}`.localeCompare(`${b.pk?.S}/${b.sk?.S}`));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the request to be refused');
    },
    (error: unknown) => error,
  );
}

describe('local DynamoDB server: state across a SIGKILL and a restart', () => {
  it('keeps tables, indexes, TTL, items and transaction results; failed writes leave nothing behind', async () => {
    const dir = await newDir();
    let server = await start(dir);
    let db = clientOf(server);
    const table = 'orders';
    await createTable(db, table, true);
    /** A put that only creates `item` (on the server of the moment): refused when its key exists. */
    const create = (item: Item) =>
      db.send(
        new PutItemCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    await db.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      }),
    );
    await create({
      ...key('o-1'),
      status: { S: 'RECEIVED' },
      shard: { S: 's1' },
      expiresAt: { N: '1900000000' },
    });
    await db.send(
      new PutItemCommand({
        TableName: table,
        Item: { ...key('o-2'), status: { S: 'RECEIVED' }, shard: { S: 's1' } },
      }),
    );
    await db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: key('o-1'),
        UpdateExpression: 'SET #s = :to ADD version :one',
        ConditionExpression: '#s = :from',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':to': { S: 'CONFIRMED' },
          ':from': { S: 'RECEIVED' },
          ':one': { N: '1' },
        },
      }),
    );
    // A transaction that commits and one that is cancelled by its second item.
    await db.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: table, Item: { ...key('stock', 'A'), available: { N: '5' } } } },
          { Put: { TableName: table, Item: { ...key('stock', 'B'), available: { N: '1' } } } },
        ],
      }),
    );
    const reserve = (sku: string, quantity: number) => ({
      Update: {
        TableName: table,
        Key: key('stock', sku),
        UpdateExpression: 'SET available = available - :q',
        ConditionExpression: 'available >= :q',
        ExpressionAttributeValues: { ':q': { N: String(quantity) } },
      },
    });
    const cancelled = await rejection(
      db.send(new TransactWriteItemsCommand({ TransactItems: [reserve('A', 2), reserve('B', 2)] })),
    );
    expect(cancelled).toBeInstanceOf(TransactionCanceledException);
    await db.send(new TransactWriteItemsCommand({ TransactItems: [reserve('A', 2), reserve('B', 1)] }));
    // Failed writes: a conditional put that loses, and an update that finds the item it would create too
    // large; neither may leave anything, before or after the restart.
    const lost = await rejection(create({ ...key('o-2'), status: { S: 'FORGED' } }));
    expect(lost).toBeInstanceOf(ConditionalCheckFailedException);
    await rejection(
      db.send(
        new UpdateItemCommand({
          TableName: table,
          Key: key('too-large'),
          UpdateExpression: 'SET big = :big',
          ExpressionAttributeValues: { ':big': { S: 'x'.repeat(410 * 1024) } },
        }),
      ),
    );
    expect(await get(db, table, key('too-large'))).toBeUndefined();
    const before = await scanAll(db, table);

    await kill(server);
    server = await start(dir);
    db = clientOf(server);

    expect(await scanAll(db, table)).toEqual(before);
    expect(await get(db, table, key('o-1'))).toMatchObject({
      status: { S: 'CONFIRMED' },
      version: { N: '1' },
    });
    expect(await get(db, table, key('o-2'))).toMatchObject({ status: { S: 'RECEIVED' } });
    expect(await get(db, table, key('too-large'))).toBeUndefined();
    expect((await get(db, table, key('stock', 'A')))?.available).toEqual({ N: '3' });
    expect((await get(db, table, key('stock', 'B')))?.available).toEqual({ N: '0' });
    const { Table } = await db.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(['by-shard']);
    const { TimeToLiveDescription } = await db.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    expect((await get(db, table, key('o-1')))?.expiresAt).toEqual({ N: '1900000000' });
    const { Items: indexed = [] } = await db.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'by-shard',
        // SHARD is one of DynamoDB's reserved words.
        KeyConditionExpression: '#shard = :s',
        ExpressionAttributeNames: { '#shard': 'shard' },
        ExpressionAttributeValues: { ':s': { S: 's1' } },
      }),
    );
    expect(indexed.map((item) => item.pk?.S).sort()).toEqual(['o-1', 'o-2']);
    expect((await db.send(new ListTablesCommand({}))).TableNames).toEqual([table]);

    // Conditions hold against the replayed state.
    const again = await rejection(create({ ...key('o-1'), status: { S: 'RECEIVED' } }));
    expect(again).toBeInstanceOf(ConditionalCheckFailedException);
    const oversell = await rejection(
      db.send(new TransactWriteItemsCommand({ TransactItems: [reserve('A', 1), reserve('B', 1)] })),
    );
    expect((oversell as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual([
      'None',
      'ConditionalCheckFailed',
    ]);
  });

  it('keeps exactly the one winner of concurrent conditional writes', async () => {
    const dir = await newDir();
    let server = await start(dir);
    const table = 'claims';
    await createTable(clientOf(server), table);
    const contenders = Array.from({ length: 20 }, () => clientOf(server));
    const outcomes = await Promise.allSettled(
      contenders.map((client, index) =>
        client.send(
          new PutItemCommand({
            TableName: table,
            Item: { ...key('claim'), owner: { S: `c${index}` } },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      ),
    );
    const winners = outcomes.flatMap((outcome, index) =>
      outcome.status === 'fulfilled' ? [`c${index}`] : [],
    );
    expect(winners).toHaveLength(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        expect(outcome.reason).toBeInstanceOf(ConditionalCheckFailedException);
    }

    await kill(server);
    server = await start(dir);
    expect((await get(clientOf(server), table, key('claim')))?.owner).toEqual({ S: winners[0] });
  });

  it('starts empty on reset', async () => {
    const dir = await newDir();
    let server = await start(dir);
    let db = clientOf(server);
    await createTable(db, 'kept');
    await db.send(new PutItemCommand({ TableName: 'kept', Item: { ...key('k'), v: { S: 'v' } } }));
    await server.stop();
    servers.delete(server);

    server = await start(dir);
    db = clientOf(server);
    expect((await get(db, 'kept', key('k')))?.v).toEqual({ S: 'v' });
    await server.stop();
    servers.delete(server);

    server = await start(dir, { reset: true });
    db = clientOf(server);
    expect((await db.send(new ListTablesCommand({}))).TableNames).toEqual([]);
  });
});

describe('local SNS server: connections', () => {
  function post(agent: Agent, endpoint: string, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; reused: boolean; connection: string | undefined }>(
      (resolve, reject) => {
        const req = request(
          endpoint,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              authorization: `AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=${randomUUID()}`,
              ...headers,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                reused: req.reusedSocket,
                connection: res.headers.connection,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end('Action=ListTopics&Version=2010-03-31');
      },
    );
  }

  it('keeps connections alive, serves others while one sits idle, and closes when asked', async () => {
    const server: RunningSns = await startSns({
      port: await findFreePort(),
      dir: await newDir(),
      log: () => {},
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const idle = connect(
        new URL(server.endpoint).port ? Number(new URL(server.endpoint).port) : 80,
        '127.0.0.1',
      );
      await new Promise<void>((resolve, reject) => idle.once('connect', resolve).once('error', reject));
      try {
        const first = await post(agent, server.endpoint);
        const second = await post(agent, server.endpoint);
        expect(first).toMatchObject({ status: 200, reused: false });
        expect(second).toMatchObject({ status: 200, reused: true });
        expect(second.connection).not.toBe('close');
        const closing = await post(agent, server.endpoint, { connection: 'close' });
        expect(closing).toMatchObject({ status: 200, connection: 'close' });
      } finally {
        idle.destroy();
      }
    } finally {
      agent.destroy();
      await server.stop();
    }
  });
});
