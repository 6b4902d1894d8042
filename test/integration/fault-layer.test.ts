/**
 * The fault layer (local/faults/) in front of the real local endpoints (dynoxide, moto): every injected
 * error reaches the AWS SDK v3 clients the functions use exactly as AWS's would (error class, HTTP status,
 * message, cancellation and throttling reasons), an error injected after the request took effect leaves the
 * write done while one injected before leaves nothing, a dropped connection is the SDK's network error, the
 * SDK's standard retry strategy retries what it retries, and a request no rule touches passes byte for byte.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProfileInput, parseFaultProfile } from '../../local/faults/profile.ts';
import { type FaultLayer, startFaultLayer } from '../../local/faults/proxy.ts';
import { localDynamoDbConfig } from '../../local/infra/dynamodb.ts';
import { localSnsConfig, localTopicArn } from '../../local/infra/sns.ts';
import { channelNames, localTableName } from '../../topology/index.ts';
import { testInfra } from '../support/env.ts';

const table = localTableName('inventory');
const topicArn = localTopicArn(channelNames[0] as (typeof channelNames)[number]);

let layer: FaultLayer;
let direct: DynamoDBClient;

const use = (rules: FaultProfileInput['rules']) =>
  layer.setProfile(parseFaultProfile({ name: 'test', rules }));
const ddbClient = (maxAttempts = 1) =>
  new DynamoDBClient({ ...localDynamoDbConfig(layer.dynamodbEndpoint), maxAttempts });
const put = (sku: string) =>
  new PutItemCommand({ TableName: table, Item: { sku: { S: sku }, available: { N: '5' } } });
const exists = async (sku: string) =>
  (
    await direct.send(
      new GetItemCommand({ TableName: table, Key: { sku: { S: sku } }, ConsistentRead: true }),
    )
  ).Item !== undefined;
const sku = () => `SKU-FAULT-${randomUUID()}`;

/** What the SDK threw. */
async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the request to fail');
}
const status = (error: Record<string, unknown>) =>
  (error.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode;

beforeAll(async () => {
  const infra = testInfra();
  layer = await startFaultLayer({
    profile: parseFaultProfile({ name: 'off', rules: [] }),
    dynamodbEndpoint: infra.dynamodbEndpoint,
    snsEndpoint: infra.snsEndpoint,
  });
  direct = new DynamoDBClient(localDynamoDbConfig(infra.dynamodbEndpoint));
});

afterAll(async () => {
  direct?.destroy();
  await layer?.close();
});

describe('DynamoDB errors, as the SDK parses them', () => {
  it('TransactionConflictException on a single-item write, before it: nothing written', async () => {
    use([
      {
        service: 'dynamodb',
        tables: ['inventory'],
        rate: 1,
        fault: { kind: 'TransactionConflictException' },
      },
    ]);
    const client = ddbClient();
    const item = sku();
    const error = await failure(client.send(put(item)));
    expect(error.name).toBe('TransactionConflictException');
    expect(error.message).toBe('Transaction is ongoing for the item.');
    expect(status(error)).toBe(400);
    expect(error.$fault).toBe('client');
    expect(await exists(item)).toBe(false);
    client.destroy();
  });

  it('TransactionCanceledException with TransactionConflict on the targeted items only', async () => {
    const [mug, shirt] = [sku(), sku()];
    use([
      {
        service: 'dynamodb',
        tables: ['inventory'],
        keys: { sku: [shirt] },
        rate: 1,
        fault: { kind: 'TransactionCanceledException' },
      },
    ]);
    const client = ddbClient();
    const error = await failure(
      client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: table, Item: { sku: { S: mug } } } },
            { Put: { TableName: table, Item: { sku: { S: shirt } } } },
          ],
        }),
      ),
    );
    expect(error).toBeInstanceOf(TransactionCanceledException);
    const cancelled = error as unknown as TransactionCanceledException;
    expect(cancelled.CancellationReasons).toEqual([
      { Code: 'None' },
      { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item.' },
    ]);
    expect(cancelled.message).toBe(
      'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
    );
    expect(status(error)).toBe(400);
    expect(await exists(mug)).toBe(false);
    client.destroy();
  });

  it('ThrottlingException and ProvisionedThroughputExceededException with their throttling reasons', async () => {
    const client = ddbClient();
    use([{ service: 'dynamodb', rate: 1, fault: { kind: 'ThrottlingException' } }]);
    const throttled = await failure(client.send(put(sku())));
    expect(throttled.name).toBe('ThrottlingException');
    expect(throttled.message).toBe('Rate of requests exceeds the allowed throughput.');
    expect(status(throttled)).toBe(400);
    expect(throttled.throttlingReasons).toEqual([
      {
        reason: 'TableWriteKeyRangeThroughputExceeded',
        resource: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}`,
      },
    ]);
    use([{ service: 'dynamodb', rate: 1, fault: { kind: 'ProvisionedThroughputExceededException' } }]);
    const exceeded = await failure(
      client.send(new GetItemCommand({ TableName: table, Key: { sku: { S: 'SKU-MUG' } } })),
    );
    expect(exceeded.name).toBe('ProvisionedThroughputExceededException');
    expect(status(exceeded)).toBe(400);
    expect((exceeded.ThrottlingReasons as { reason: string }[])[0]?.reason).toBe(
      'TableReadKeyRangeThroughputExceeded',
    );
    client.destroy();
  });

  it('InternalServerError before the write leaves nothing; after it, the write is done and the answer lost', async () => {
    const client = ddbClient();
    for (const when of ['before', 'after'] as const) {
      use([
        {
          service: 'dynamodb',
          operations: ['PutItem'],
          rate: 1,
          when,
          fault: { kind: 'InternalServerError' },
        },
      ]);
      const item = sku();
      const error = await failure(client.send(put(item)));
      expect(error.name).toBe('InternalServerError');
      expect(error.message).toBe('Internal server error');
      expect(error.$fault).toBe('server');
      expect(status(error)).toBe(500);
      expect(await exists(item)).toBe(when === 'after');
    }
    client.destroy();
  });

  it("a dropped connection is the SDK's network error, before or after the write", async () => {
    const client = ddbClient();
    for (const when of ['before', 'after'] as const) {
      use([{ service: 'dynamodb', operations: ['PutItem'], rate: 1, when, fault: { kind: 'drop' } }]);
      const item = sku();
      const error = await failure(client.send(put(item)));
      expect(error.code).toBe('ECONNRESET');
      expect(error.message).toBe('socket hang up');
      expect(status(error)).toBeUndefined();
      expect(await exists(item)).toBe(when === 'after');
    }
    // The counters are the last profile's (setProfile starts afresh): the drop after the write.
    expect(layer.counters()).toMatchObject({
      requests: 1,
      injected: 1,
      injectedAfter: 1,
      byKind: { drop: 1 },
    });
    client.destroy();
  });

  it("the SDK's standard strategy retries throttling, 500s and dropped connections, never conflicts or cancellations", async () => {
    const client = ddbClient(4); // DynamoDB's default
    const attempts = async (fault: FaultProfileInput['rules'][number]['fault'], operation = 'PutItem') => {
      use([{ service: 'dynamodb', operations: [operation], rate: 1, limit: 1, fault }]);
      const command =
        operation === 'PutItem'
          ? put(sku())
          : new TransactWriteItemsCommand({
              TransactItems: [{ Put: { TableName: table, Item: { sku: { S: sku() } } } }],
            });
      try {
        const output = await client.send(command as PutItemCommand);
        return { ok: true, attempts: output.$metadata.attempts };
      } catch (error) {
        return { ok: false, attempts: (error as { $metadata?: { attempts?: number } }).$metadata?.attempts };
      }
    };
    expect(await attempts({ kind: 'ThrottlingException' })).toEqual({ ok: true, attempts: 2 });
    expect(await attempts({ kind: 'ProvisionedThroughputExceededException' })).toEqual({
      ok: true,
      attempts: 2,
    });
    expect(await attempts({ kind: 'InternalServerError' })).toEqual({ ok: true, attempts: 2 });
    expect(await attempts({ kind: 'drop' })).toEqual({ ok: true, attempts: 2 });
    expect(await attempts({ kind: 'TransactionConflictException' })).toEqual({ ok: false, attempts: 1 });
    expect(await attempts({ kind: 'TransactionCanceledException' }, 'TransactWriteItems')).toEqual({
      ok: false,
      attempts: 1,
    });
    client.destroy();
  }, 60_000);
});

describe('SNS errors, in the Query protocol the SNS client speaks', () => {
  it('Throttling (400) and InternalError (500)', async () => {
    const client = new SNSClient({ ...localSnsConfig(layer.snsEndpoint), maxAttempts: 1 });
    const publish = () => client.send(new PublishCommand({ TopicArn: topicArn, Message: 'fault test' }));
    use([{ service: 'sns', operations: ['Publish'], rate: 1, fault: { kind: 'Throttling' } }]);
    const throttled = await failure(publish());
    expect(throttled.name).toBe('Throttling');
    expect(throttled.message).toBe('Rate exceeded');
    expect(status(throttled)).toBe(400);
    use([
      { service: 'sns', operations: ['Publish'], rate: 1, when: 'after', fault: { kind: 'InternalError' } },
    ]);
    const internal = await failure(publish());
    expect(internal.name).toBe('InternalErrorException');
    expect(status(internal)).toBe(500);
    expect(internal.$fault).toBe('server');
    use([]);
    expect((await publish()).MessageId).toBeTruthy();
    client.destroy();
  });
});

describe('a request no rule touches', () => {
  it('reaches the endpoint as the client sent it and comes back as the endpoint answered, byte for byte', async () => {
    // A recording endpoint, so that both sides of the proxy can be compared exactly.
    const seen: { method?: string; url?: string; rawHeaders: string[]; body: Buffer }[] = [];
    const endpoint = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({
          method: req.method,
          url: req.url,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, 'OK', [
          'Date',
          'Tue, 01 Dec 2026 00:00:00 GMT',
          'x-amzn-RequestId',
          'ABC',
          'X-Amz-Crc32',
          '123',
          'Content-Type',
          'application/x-amz-json-1.0',
          'Content-Length',
          '11',
          'Connection',
          'keep-alive',
          'Keep-Alive',
          'timeout=5',
        ]);
        res.end('{"Item":{}}');
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
    const recording = await startFaultLayer({
      profile: parseFaultProfile({
        name: 'elsewhere',
        rules: [{ service: 'dynamodb', tables: ['orders'], rate: 1, fault: { kind: 'InternalServerError' } }],
      }),
      dynamodbEndpoint: endpointUrl,
      snsEndpoint: endpointUrl,
    });
    const body = Buffer.from('{"TableName":"order-pipeline-inventory","Key":{"sku":{"S":"SKU-MUG"}}}');
    const send = (url: string) =>
      new Promise<{ status?: number; rawHeaders: string[]; body: Buffer; headers: IncomingHttpHeaders }>(
        (resolve, reject) => {
          const target = new URL(url);
          const req = httpRequest(
            {
              hostname: target.hostname,
              port: target.port,
              method: 'POST',
              path: '/?x=1',
              headers: [
                'Host',
                'dynamodb.local',
                'X-Amz-Target',
                'DynamoDB_20120810.GetItem',
                'content-type',
                'application/x-amz-json-1.0',
                'X-Custom',
                'a',
                'x-custom',
                'b',
                'Content-Length',
                String(body.length),
              ],
              setHost: false,
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('end', () =>
                resolve({
                  status: res.statusCode,
                  rawHeaders: res.rawHeaders,
                  headers: res.headers,
                  body: Buffer.concat(chunks),
                }),
              );
            },
          );
          req.on('error', reject);
          req.end(body);
        },
      );
    try {
      const viaEndpoint = await send(endpointUrl);
      const viaLayer = await send(recording.dynamodbEndpoint);
      expect(viaLayer).toEqual(viaEndpoint);
      expect(seen).toHaveLength(2);
      expect(seen[1]).toEqual(seen[0]);
      expect(seen[1]?.body.equals(body)).toBe(true);
      expect(recording.counters()).toMatchObject({ requests: 1, untouched: 1, injected: 0 });
    } finally {
      await recording.close();
      endpoint.closeAllConnections();
      await new Promise((resolve) => endpoint.close(resolve));
    }
  });

  it('through dynoxide: the same answer as without the layer', async () => {
    use([{ service: 'dynamodb', tables: ['orders'], rate: 1, fault: { kind: 'InternalServerError' } }]);
    const item = sku();
    const client = ddbClient();
    await client.send(put(item));
    const key = { TableName: table, Key: { sku: { S: item } }, ConsistentRead: true };
    const [viaLayer, viaEndpoint] = await Promise.all([
      client.send(new GetItemCommand(key)),
      direct.send(new GetItemCommand(key)),
    ]);
    expect(viaLayer.Item).toEqual(viaEndpoint.Item);
    expect(viaLayer.Item?.available).toEqual({ N: '5' });
    client.destroy();
  });
});
