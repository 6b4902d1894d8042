import { Readable } from 'node:stream';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyRecordStatus,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { isOwnInProgressRecord, LostAnswerAwarePersistenceLayer, registerInvocation } from './idempotency.ts';

/** The part of the SDK's HTTP request the fake endpoint reads. */
interface HttpRequest {
  headers: Record<string, string>;
  body: unknown;
}

const record = (fields: Partial<ConstructorParameters<typeof IdempotencyRecord>[0]> = {}) =>
  new IdempotencyRecord({
    idempotencyKey: 'fn#key',
    status: IdempotencyRecordStatus.INPROGRESS,
    expiryTimestamp: 1_800_000_000,
    inProgressExpiryTimestamp: 1_700_000_030_123,
    ...fields,
  });

describe('isOwnInProgressRecord', () => {
  it.each([
    ['the record this put wrote', record(), true],
    [
      "another invocation's (another deadline)",
      record({ inProgressExpiryTimestamp: 1_700_000_031_000 }),
      false,
    ],
    ['a completed record', record({ status: IdempotencyRecordStatus.COMPLETED }), false],
    ['another key', record({ idempotencyKey: 'fn#other' }), false],
    ['another expiry', record({ expiryTimestamp: 1_800_000_001 }), false],
    ['no record', undefined, false],
  ])('%s', (_, existing, own) => {
    expect(isOwnInProgressRecord(record(), existing)).toBe(own);
  });

  it('never without a deadline (no Lambda context registered)', () => {
    const putting = record({ inProgressExpiryTimestamp: undefined });
    expect(isOwnInProgressRecord(putting, record({ inProgressExpiryTimestamp: undefined }))).toBe(false);
  });
});

/**
 * A DynamoDB endpoint for the idempotency table, behind the real SDK client and its standard retries: it
 * stores puts, refuses a put on a stored key as DynamoDB does (ConditionalCheckFailedException with the
 * old item), and loses the answer of the first put after storing it (a 500), or fails the first deletes.
 * `failPuts`: the first puts answer 500 whatever happened, the first of them storing the item;
 * `failPutsBefore`: the first puts answer 500 and store nothing.
 */
function endpoint(options: {
  losePutAnswers?: number;
  failPuts?: number;
  failPutsBefore?: number;
  failDeletes?: number;
}) {
  const faults = { losePutAnswers: 0, failPuts: 0, failPutsBefore: 0, failDeletes: 0, ...options };
  const internalError = {
    __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
    message: 'Internal server error',
  };
  const items = new Map<string, Record<string, unknown>>();
  const calls: string[] = [];
  const answer = (status: number, body: unknown) => ({
    statusCode: status,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: Readable.from([Buffer.from(JSON.stringify(body))]),
  });
  const handle = async (request: HttpRequest) => {
    const operation = String(request.headers['x-amz-target']).split('.')[1] as string;
    const input = JSON.parse(String(request.body)) as {
      Item?: { id: { S: string } };
      Key?: { id: { S: string } };
    };
    calls.push(operation);
    const key = (input.Item ?? input.Key)?.id.S as string;
    if (operation === 'PutItem') {
      if (faults.failPutsBefore-- > 0) return answer(500, internalError);
      const old = items.get(key);
      if (!old) items.set(key, input.Item as Record<string, unknown>);
      if (faults.failPuts-- > 0) return answer(500, internalError);
      if (old) {
        return answer(400, {
          __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
          message: 'The conditional request failed',
          Item: old,
        });
      }
      if (faults.losePutAnswers-- > 0) return answer(500, internalError);
      return answer(200, {});
    }
    if (operation === 'DeleteItem') {
      if (faults.failDeletes-- > 0) {
        return answer(400, {
          __type: 'com.amazonaws.dynamodb.v20120810#TransactionConflictException',
          message: 'Transaction is ongoing for the item.',
        });
      }
      items.delete(key);
      return answer(200, {});
    }
    if (operation === 'UpdateItem') {
      const values = (input as { ExpressionAttributeValues: Record<string, unknown> })
        .ExpressionAttributeValues;
      items.set(key, { ...items.get(key), status: values[':status'], data: values[':response_data'] });
      return answer(200, {});
    }
    if (operation === 'GetItem') {
      const item = items.get(key);
      return answer(200, item ? { Item: item } : {});
    }
    throw new Error(`unexpected ${operation}`);
  };
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://dynamodb.test',
    requestHandler: { handle: async (request: HttpRequest) => ({ response: await handle(request) }) },
  });
  return { items, calls, client, faults };
}

function guarded(client: DynamoDBClient, fn: (input: { id: string }) => Promise<string>) {
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'id' });
  // A registered Lambda context: in-progress records carry its deadline.
  const deadline = Date.now() + 30_000;
  config.registerLambdaContext({ getRemainingTimeInMillis: () => deadline - Date.now() } as never);
  const store = new LostAnswerAwarePersistenceLayer({
    tableName: 'idempotency',
    keyAttr: 'id',
    awsSdkV3Client: client,
  });
  return makeIdempotent(fn, { persistenceStore: store, config });
}

describe('LostAnswerAwarePersistenceLayer', () => {
  it('runs the guarded function once when the in-progress put took effect and its answer was lost', async () => {
    const { client, calls } = endpoint({ losePutAnswers: 1, failDeletes: 0 });
    let sends = 0;
    const send = guarded(client, async () => `sent ${++sends}`);
    await expect(send({ id: 'n-1' })).resolves.toBe('sent 1');
    // The SDK's retry met the put's own record; Powertools' own layer would answer "already in progress".
    expect(calls.filter((call) => call === 'PutItem')).toHaveLength(2);
    // A redelivery is answered from the completed record: still one send.
    await expect(send({ id: 'n-1' })).resolves.toBe('sent 1');
    expect(sends).toBe(1);
  });

  it('runs the guarded function once when every attempt of the in-progress put failed with a 500 after storing it', async () => {
    const { client, calls, faults } = endpoint({ failPuts: 100 });
    let sends = 0;
    const send = guarded(client, async () => `sent ${++sends}`);
    await expect(send({ id: 'n-4' })).resolves.toBe('sent 1');
    // The SDK gave up on the put; a consistent read found the record this put wrote.
    expect(calls.slice(-3)).toEqual(['PutItem', 'GetItem', 'UpdateItem']);
    faults.failPuts = 0;
    await expect(send({ id: 'n-4' })).resolves.toBe('sent 1');
    expect(sends).toBe(1);
  });

  it('fails the attempt when every put failed before storing anything, and the next attempt runs the function', async () => {
    const { client, items, faults } = endpoint({ failPutsBefore: 100 });
    let sends = 0;
    const send = guarded(client, async () => `sent ${++sends}`);
    await expect(send({ id: 'n-5' })).rejects.toThrow(/in progress record/);
    expect(items.size).toBe(0);
    expect(sends).toBe(0);
    faults.failPutsBefore = 0;
    await expect(send({ id: 'n-5' })).resolves.toBe('sent 1');
  });

  it("retries the delete after the function failed, so the next attempt runs it (never 'in progress' for good)", async () => {
    const { client, items } = endpoint({ losePutAnswers: 0, failDeletes: 2 });
    let calls = 0;
    const send = guarded(client, async () => {
      calls += 1;
      if (calls === 1) throw new Error('Throttling');
      return 'sent';
    });
    await expect(send({ id: 'n-2' })).rejects.toThrow('Throttling');
    expect(items.size).toBe(0);
    await expect(send({ id: 'n-2' })).resolves.toBe('sent');
  });

  it('never takes a record whose settling failed for its own: the next attempt waits, nothing is sent twice', async () => {
    const { client } = endpoint({ losePutAnswers: 0, failDeletes: 100 });
    let calls = 0;
    const send = guarded(client, async () => {
      calls += 1;
      throw new Error('InternalError');
    });
    await expect(send({ id: 'n-3' })).rejects.toThrow();
    // Same invocation, same deadline: without the memory of the failed delete this put would pass.
    await expect(send({ id: 'n-3' })).rejects.toThrow(IdempotencyAlreadyInProgressError);
    expect(calls).toBe(1);
  });
});

describe('registerInvocation', () => {
  type Register = (config: IdempotencyConfig, context: { getRemainingTimeInMillis(): number }) => void;
  const powertoolsOwn: Register = (config, context) => config.registerLambdaContext(context as never);
  const withFloor: Register = (config, context) => registerInvocation(config, context as never);

  it.each([
    { name: 'registerInvocation, 0 ms left', register: withFloor, remainingMs: 0, stamped: true },
    { name: 'registerInvocation, past the deadline', register: withFloor, remainingMs: -5, stamped: true },
    {
      name: "Powertools' own, 0 ms left (the edge)",
      register: powertoolsOwn,
      remainingMs: 0,
      stamped: false,
    },
  ])(
    '$name: the in-progress record carries a deadline: $stamped',
    async ({ register, remainingMs, stamped }) => {
      const { client, items } = endpoint({ losePutAnswers: 0, failDeletes: 0 });
      const config = new IdempotencyConfig({ eventKeyJmesPath: 'id' });
      register(config, { getRemainingTimeInMillis: () => remainingMs });
      const store = new LostAnswerAwarePersistenceLayer({
        tableName: 'idempotency',
        keyAttr: 'id',
        awsSdkV3Client: client,
      });
      const deadlines: unknown[] = [];
      const guardedFn = makeIdempotent(
        async (_input: { id: string }) => {
          deadlines.push(...[...items.values()].map((item) => item.in_progress_expiration));
          return 'done';
        },
        { persistenceStore: store, config },
      );
      await expect(guardedFn({ id: 'k' })).resolves.toBe('done');
      expect(deadlines).toHaveLength(1);
      expect(deadlines[0] !== undefined).toBe(stamped);
    },
  );

  it('floors the remaining time at 1 ms and passes more through as it is', () => {
    const config = new IdempotencyConfig({ eventKeyJmesPath: 'id' });
    let remainingMs = -5;
    registerInvocation(config, { getRemainingTimeInMillis: () => remainingMs } as never);
    expect(config.lambdaContext?.getRemainingTimeInMillis()).toBe(1);
    remainingMs = 30_000;
    expect(config.lambdaContext?.getRemainingTimeInMillis()).toBe(30_000);
  });
});
