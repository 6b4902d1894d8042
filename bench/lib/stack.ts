/**
 * The environment a bench or chaos run needs: a broker, a DynamoDB and an SNS endpoint (started here on
 * free ports, or taken from KAFKA_BROKERS / DYNAMODB_ENDPOINT / SNS_ENDPOINT), and the Kafka offset
 * helpers its runs share, and one run's own tables, SNS topic and consumer groups (preparePipeline).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Admin } from '@platformatic/kafka';
import { type CatalogEntry, catalog, seedInventory } from '../../functions/shared/catalog.ts';
import { type Offsets, topicOffsets } from '../../local/infra/consumer-lag.ts';
import { startDynamoDb } from '../../local/infra/dynamodb.ts';
import { findFreePorts, localDynamoDbConfig, startLocalInfra } from '../../local/infra/index.ts';
import { kafkaLibDir, startKafka } from '../../local/infra/kafka.ts';
import type { RunningService } from '../../local/infra/process.ts';
import { provisionChannels, provisionTables, provisionTopics } from '../../local/infra/provision.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { type FunctionName, localTableName, tableNames } from '../../topology/manifest.ts';
import { kafkaConsumers } from '../../topology/topics.ts';
import { consumerTopics } from './topics.ts';

export type Log = (line: string) => void;

export type BenchStack = Awaited<ReturnType<typeof startBenchStack>>;

/** A short id that names this run's tables, groups and topics. */
export const newRunId = (): string => `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

/** The Kafka version of the jars Maven fetched (the broker jar is named `kafka_<scala>-<version>.jar`). */
function localKafkaVersion(): string {
  const jars = existsSync(kafkaLibDir) ? readdirSync(kafkaLibDir) : [];
  return jars.map((name) => /^kafka_[\d.]+-(.+)\.jar$/.exec(name)?.[1]).find(Boolean) ?? 'unknown';
}

/**
 * Starts (or attaches to) Kafka and DynamoDB and creates the manifest's topics. Never uses the
 * developer's 9092/8000: started services get free ports and an ephemeral data dir.
 */
export async function startBenchStack(log: Log) {
  const ports = (await findFreePorts(4)) as [number, number, number, number];
  const [kafkaPort, controllerPort, dynamodbPort, snsPort] = ports;
  const infra = await startLocalInfra({
    ephemeral: true,
    kafkaPort,
    controllerPort,
    dynamodbPort,
    snsPort,
    log,
  });
  try {
    await provisionTopics(infra.kafkaBrokers);
  } catch (error) {
    await infra.stop();
    throw error;
  }
  // The pids of the services this run started: a chaos run kills them, and a restart replaces one.
  const pids: Partial<Record<keyof typeof infra.pids, number>> = {};
  for (const [name, pid] of Object.entries(infra.pids)) if (pid) pids[name as keyof typeof pids] = pid;
  // Services a chaos run started again after killing them: stopped before the stack's own.
  const restarted: RunningService[] = [];
  const keep = async (name: 'kafka' | 'dynamodb', starting: Promise<RunningService>) => {
    const service = await starting;
    restarted.push(service);
    pids[name] = service.process.pid;
  };
  const again = { host: '127.0.0.1', log: () => undefined };
  return {
    kafkaBrokers: infra.kafkaBrokers,
    dynamodbEndpoint: infra.dynamodbEndpoint,
    snsEndpoint: infra.snsEndpoint,
    // Starts the broker or DynamoDB endpoint this run started again, on its ports and data dir (after a chaos kill).
    restart: {
      kafka: infra.started.kafka
        ? () =>
            keep(
              'kafka',
              startKafka({ ...again, port: kafkaPort, controllerPort, dir: join(infra.dataDir, 'kafka') }),
            )
        : undefined,
      dynamodb: infra.started.dynamodb
        ? () =>
            keep(
              'dynamodb',
              startDynamoDb({ ...again, port: dynamodbPort, dir: join(infra.dataDir, 'dynamodb') }),
            )
        : undefined,
    },
    kafkaVersion: infra.started.kafka ? localKafkaVersion() : `external (${infra.kafkaBrokers.join(',')})`,
    servicePids: () => pids,
    stop: async () => {
      await Promise.all(restarted.map((service) => service.stop().catch(() => undefined)));
      await infra.stop();
    },
  };
}

/** The demo catalog without its deliberately scarce SKU, each with `stock` units. */
export function benchCatalog(stock: number): CatalogEntry[] {
  return catalog
    .filter((entry) => entry.initialStock >= 1_000)
    .map((entry) => ({ ...entry, initialStock: stock }));
}

export const benchGroupId = (runId: string, fn: FunctionName | string): string => `bench-${runId}-${fn}`;

export function newAdmin(brokers: string[]): Admin {
  return new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers });
}

/** Logs of the runtime children, kept after the run for post-mortems. */
export function logFileFor(runId: string, what: string): string {
  const dir = join(projectRoot, '.local', 'bench');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${runId}-${what}.log`);
}

/**
 * Fresh tables (`<prefix>-<table>`) and the run's SNS topic, stocked for `orders` orders (or with
 * `entries`: a flash sale's one SKU), and consumer groups of this run committed at the current end of
 * their topics (a shared broker keeps other runs' records: they are not ours to process).
 */
export async function preparePipeline(
  stack: Pick<BenchStack, 'kafkaBrokers' | 'dynamodbEndpoint' | 'snsEndpoint'>,
  runId: string,
  stock: number,
  entries: CatalogEntry[] = benchCatalog(stock),
) {
  const tablePrefix = `bench-${runId}`;
  const endpoint = stack.dynamodbEndpoint;
  await Promise.all([
    provisionTables(endpoint, tablePrefix),
    provisionChannels(stack.snsEndpoint, tablePrefix),
  ]);
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(endpoint)));
  try {
    await seedInventory(documents, localTableName('inventory', tablePrefix), entries);
  } finally {
    documents.destroy();
  }
  const admin = newAdmin(stack.kafkaBrokers);
  let startOffsets: Offsets;
  try {
    startOffsets = await topicOffsets(admin, consumerTopics());
    await commitGroupsAt(admin, runId, startOffsets);
  } finally {
    await admin.close();
  }
  const dispose = async () => {
    const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
    const drop = (table: string) => client.send(new DeleteTableCommand({ TableName: table }));
    await Promise.all(
      tableNames.map((name) => drop(localTableName(name, tablePrefix)).catch(() => undefined)),
    );
    client.destroy();
  };
  // startOffsets: where each function's consumer group starts, the end of its topic when the run began.
  return { runId, tablePrefix, entries, startOffsets, dispose };
}

/** Commits each function's group of this run at `offsets` (of the function's own trigger topic; no live members). */
export async function commitGroupsAt(admin: Admin, runId: string, offsets: Offsets): Promise<void> {
  for (const { name, trigger } of kafkaConsumers) {
    const partitions = offsets.get(trigger.topic);
    if (!partitions) continue;
    await admin.alterConsumerGroupOffsets({
      groupId: benchGroupId(runId, name),
      topics: [
        {
          name: trigger.topic,
          partitionOffsets: [...partitions].map(([partition, offset]) => ({ partition, offset })),
        },
      ],
    });
  }
}
