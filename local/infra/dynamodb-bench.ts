/**
 * `npm run bench:dynamodb`: how many simple calls per second the local DynamoDB endpoint answers.
 *
 *   npm run bench:dynamodb -- [--clients 4] [--seconds 10] [--item-bytes 1000] [--endpoint http://127.0.0.1:8000]
 *
 * Starts its own endpoint (dynoxide, see dynamodb.ts, in a temporary dir, on a free
 * port) unless `--endpoint` or DYNAMODB_ENDPOINT names one; creates a throwaway table there. Each client is
 * one SDK client with keep-alive (as the functions use it), looping PutItem (conditional, ~1 KB item),
 * UpdateItem and GetItem on its own keys. Prints calls/s and p50/p99 per call and per action. Figures only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { percentile } from '../../bench/lib/stats.ts';
import { flagsOf, positiveNumber, readCommandLine } from '../../tools/command-line.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { localDynamoDbConfig, type RunningDynamoDb, startDynamoDb } from './dynamodb.ts';
import { findFreePort } from './process.ts';

const usage =
  'usage: npm run bench:dynamodb -- [--clients <n>] [--seconds <s>] [--item-bytes <n>] [--endpoint <url>]';

type Action = 'PutItem' | 'UpdateItem' | 'GetItem';

/** `<calls/s>   p50 <ms>   p99 <ms>` of one list of latencies. */
function figures(latencies: number[], elapsedS: number): string {
  const sorted = latencies.toSorted((a, b) => a - b);
  const ms = (p: number) => percentile(sorted, p).toFixed(2);
  return `${(sorted.length / elapsedS).toFixed(0).padStart(6)} calls/s   p50 ${ms(50)} ms   p99 ${ms(99)} ms`;
}

const options = flagsOf({ string: ['clients', 'seconds', 'item-bytes', 'endpoint'] });

const settingsOf = (values: { clients?: string; seconds?: string; 'item-bytes'?: string }) => ({
  clients: Math.round(positiveNumber('clients', values.clients, 4)),
  seconds: positiveNumber('seconds', values.seconds, 10),
  itemBytes: Math.round(positiveNumber('item-bytes', values['item-bytes'], 1000)),
});

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options }, ({ values }) => ({ values, ...settingsOf(values) }));
  if (command.exitCode !== undefined) return command.exitCode;
  const { values, clients, seconds, itemBytes } = command.settings;

  const log = (line: string) => console.error(line);
  let running: RunningDynamoDb | undefined;
  let dir: string | undefined;
  let endpoint = values.endpoint ?? process.env[RuntimeEnv.dynamodbEndpoint]?.trim();
  if (!endpoint) {
    dir = await mkdtemp(join(tmpdir(), 'dynamodb-bench-'));
    running = await startDynamoDb({ port: await findFreePort(), dir, log });
    endpoint = running.endpoint;
  }
  const table = `bench-${process.pid}-${Date.now()}`;
  // One connection per client, kept alive between calls as the SDK's default agent does.
  const makeClient = () =>
    new DynamoDBClient({
      ...localDynamoDbConfig(endpoint),
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 1 }) },
    });
  const admin = makeClient();
  const sdkClients = Array.from({ length: clients }, makeClient);
  try {
    await admin.send(
      new CreateTableCommand({
        TableName: table,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const padding = 'x'.repeat(Math.max(0, itemBytes - 100));
    const latencies: Record<Action, number[]> = { PutItem: [], UpdateItem: [], GetItem: [] };
    const timed = async (action: Action, call: () => Promise<unknown>) => {
      const start = performance.now();
      await call();
      latencies[action].push(performance.now() - start);
    };
    // Every client loops on keys of its own for `ms`; the figures are those of the last phase.
    const phase = async (name: string, ms: number) => {
      for (const list of Object.values(latencies)) list.length = 0;
      const until = performance.now() + ms;
      await Promise.all(
        sdkClients.map(async (client, c) => {
          for (let i = 0; performance.now() < until; i += 1) {
            const Key = { pk: { S: `${name}-c${c}-${i}` } };
            const Item = { ...Key, status: { S: 'RECEIVED' }, n: { N: String(i) }, padding: { S: padding } };
            const put = { TableName: table, Item, ConditionExpression: 'attribute_not_exists(pk)' };
            await timed('PutItem', () => client.send(new PutItemCommand(put)));
            const update = new UpdateItemCommand({
              TableName: table,
              Key,
              UpdateExpression: 'SET #s = :to',
              ConditionExpression: '#s = :from',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':to': { S: 'CONFIRMED' }, ':from': { S: 'RECEIVED' } },
            });
            await timed('UpdateItem', () => client.send(update));
            const get = new GetItemCommand({ TableName: table, Key, ConsistentRead: true });
            await timed('GetItem', () => client.send(get));
          }
        }),
      );
    };
    // A short warm-up: connections, the SDK's lazy imports, the endpoint's first requests.
    await phase('warm-up', 1_000);
    const measureStart = performance.now();
    await phase('run', seconds * 1000);
    const elapsed = (performance.now() - measureStart) / 1000;
    const all = Object.values(latencies).flat();
    console.log(
      `DynamoDB at ${endpoint}${running ? ' (started for this run)' : ''}: ${clients} keep-alive clients, ~${itemBytes} B items, ${elapsed.toFixed(1)} s`,
    );
    console.log(`  all calls   ${figures(all, elapsed)}   (${all.length} calls)`);
    for (const [action, list] of Object.entries(latencies))
      console.log(`  ${action.padEnd(11)} ${figures(list, elapsed)}`);
    await admin.send(new DeleteTableCommand({ TableName: table }));
    return 0;
  } finally {
    for (const client of [admin, ...sdkClients]) client.destroy();
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
