/**
 * The environment a bench or chaos run needs: a broker and a DynamoDB endpoint (started here on free
 * ports, or taken from KAFKA_BROKERS / DYNAMODB_ENDPOINT), tables of its own (a fresh prefix per run),
 * demo stock for every order it will send, and consumer groups of its own that start at the current end
 * of the topics, so records left by earlier runs are never processed again.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Admin } from '@platformatic/kafka';
import { type CatalogEntry, catalog, seedInventory } from '../../functions/shared/catalog.ts';
import {
  brokersFromEnv,
  findFreePorts,
  type LocalInfra,
  localDynamoDbConfig,
  startLocalInfra,
} from '../../local/infra/index.ts';
import { kafkaLibDir } from '../../local/infra/kafka.ts';
import { provisionChannels, provisionTables, provisionTopics } from '../../local/infra/provision.ts';
import { type FunctionName, localTableName, type TableName, tableNames } from '../../topology/manifest.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';

export type Log = (line: string) => void;

export interface BenchStack {
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  snsEndpoint: string;
  /** Ports and data dir of a broker this run started (undefined when external): chaos restarts it. */
  kafka?: { host: string; port: number; controllerPort: number; dir: string };
  /** Port and data dir of a DynamoDB endpoint this run started (undefined when external): chaos restarts it. */
  dynamodb?: { host: string; port: number; dir: string };
  kafkaVersion: string;
  infra: LocalInfra;
  /** The pids of the services this run started, read from their pid files (now: chaos restarts them). */
  servicePids(): { kafka?: number; dynamodb?: number; sns?: number };
  /** Runs `stop` before the stack's own services stop (e.g. a broker restarted by a chaos run). */
  onStop(stop: () => Promise<void>): void;
  stop(): Promise<void>;
}

/** A short id that names this run's tables, groups and topics. */
export const newRunId = (): string => `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

/** The Kafka version of the jars Maven fetched (the broker jar is named `kafka_<scala>-<version>.jar`). */
function localKafkaVersion(): string {
  try {
    const jar = readdirSync(kafkaLibDir).find((name) => /^kafka_[\d.]+-.+\.jar$/.test(name));
    const match = jar ? /^kafka_[\d.]+-(.+)\.jar$/.exec(jar) : null;
    if (match?.[1]) return match[1];
  } catch {
    // Fall through.
  }
  return 'unknown';
}

/**
 * Starts (or attaches to) Kafka and DynamoDB and creates the manifest's topics. Never uses the
 * developer's 9092/8000: started services get free ports and an ephemeral data dir.
 */
export async function startBenchStack(log: Log): Promise<BenchStack> {
  const external = brokersFromEnv();
  const [kafkaPort, controllerPort, dynamodbPort, snsPort] = await findFreePorts(4);
  const infra = await startLocalInfra({
    ephemeral: true,
    kafkaPort,
    controllerPort,
    dynamodbPort,
    snsPort,
    kafkaBrokers: external ?? null,
    dynamodbEndpoint: process.env[RuntimeEnv.dynamodbEndpoint]?.trim() || null,
    snsEndpoint: process.env[RuntimeEnv.snsEndpoint]?.trim() || null,
    log,
  });
  try {
    await provisionTopics(infra.kafkaBrokers);
  } catch (error) {
    await infra.stop();
    throw error;
  }
  const extraStops: (() => Promise<void>)[] = [];
  return {
    kafkaBrokers: infra.kafkaBrokers,
    dynamodbEndpoint: infra.dynamodbEndpoint,
    snsEndpoint: infra.snsEndpoint,
    ...(infra.started.kafka && kafkaPort && controllerPort
      ? { kafka: { host: '127.0.0.1', port: kafkaPort, controllerPort, dir: join(infra.dataDir, 'kafka') } }
      : {}),
    ...(infra.started.dynamodb && dynamodbPort
      ? { dynamodb: { host: '127.0.0.1', port: dynamodbPort, dir: join(infra.dataDir, 'dynamodb') } }
      : {}),
    kafkaVersion: infra.started.kafka ? localKafkaVersion() : `external (${external?.join(',')})`,
    infra,
    servicePids: () => servicePids(infra),
    onStop: (stop) => void extraStops.push(stop),
    stop: async () => {
      await Promise.all(extraStops.map((stop) => stop().catch(() => undefined)));
      await infra.stop();
    },
  };
}

/** Where local/infra's services record their pid (`{ pid, marker }`), under the infra's data dir. */
const pidFiles = {
  kafka: 'kafka/kafka.pid',
  dynamodb: 'dynamodb/dynoxide.pid',
  sns: 'sns/moto.pid',
} as const;

function servicePids(infra: LocalInfra): { kafka?: number; dynamodb?: number; sns?: number } {
  const pids: { kafka?: number; dynamodb?: number; sns?: number } = {};
  for (const [service, file] of Object.entries(pidFiles) as [keyof typeof pidFiles, string][]) {
    if (!infra.started[service]) continue;
    try {
      const { pid } = JSON.parse(readFileSync(join(infra.dataDir, file), 'utf8')) as { pid?: unknown };
      if (typeof pid === 'number') pids[service] = pid;
    } catch {
      // Not started here, or gone.
    }
  }
  return pids;
}

/** The demo catalog without its deliberately scarce SKU, each with `stock` units. */
export function benchCatalog(stock: number): CatalogEntry[] {
  return catalog
    .filter((entry) => entry.initialStock >= 1_000)
    .map((entry) => ({ ...entry, initialStock: stock }));
}

/** Creates this run's tables (`<prefix>-<table>`) and topics, and stocks them with `entries`. */
export async function prepareTables(
  dynamodbEndpoint: string,
  snsEndpoint: string,
  tablePrefix: string,
  entries: readonly CatalogEntry[],
): Promise<void> {
  // The run's notifications topic too (`<prefix>-notifications` in moto's SNS): the functions publish there.
  await Promise.all([
    provisionTables(dynamodbEndpoint, tablePrefix),
    provisionChannels(snsEndpoint, tablePrefix),
  ]);
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(dynamodbEndpoint)));
  try {
    await seedInventory(client, localTableName('inventory', tablePrefix), entries);
  } finally {
    client.destroy();
  }
}

export async function dropTables(dynamodbEndpoint: string, tablePrefix: string): Promise<void> {
  const client = new DynamoDBClient(localDynamoDbConfig(dynamodbEndpoint));
  try {
    await Promise.all(
      tableNames.map((table: TableName) =>
        client
          .send(new DeleteTableCommand({ TableName: localTableName(table, tablePrefix) }))
          .catch(() => undefined),
      ),
    );
  } finally {
    client.destroy();
  }
}

export type Offsets = Map<string, Map<number, bigint>>;

/** The end offset (high watermark) of every partition of `topics`. */
export async function endOffsets(admin: Admin, topics: readonly string[]): Promise<Offsets> {
  const metadata = await admin.metadata({ topics: [...topics], forceUpdate: true });
  const listed = await admin.listOffsets({
    topics: topics.map((name) => ({
      name,
      partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, i) => ({
        partitionIndex: i,
        // -1: the latest offset.
        timestamp: -1n,
      })),
    })),
  });
  return new Map(
    listed.map((topic) => [topic.name, new Map(topic.partitions.map((p) => [p.partitionIndex, p.offset]))]),
  );
}

/** Sets the committed offsets of `groupId` (the group must have no live members). */
export async function commitOffsets(admin: Admin, groupId: string, offsets: Offsets): Promise<void> {
  await admin.alterConsumerGroupOffsets({
    groupId,
    topics: [...offsets].map(([name, partitions]) => ({
      name,
      partitionOffsets: [...partitions].map(([partition, offset]) => ({ partition, offset })),
    })),
  });
}

/** The committed offsets of `groupId` on `topics` (partitions without a commit are absent). */
export async function committedOffsets(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<Offsets> {
  const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
  const wanted = new Set(topics);
  const result: Offsets = new Map();
  for (const topic of group?.topics ?? []) {
    if (!wanted.has(topic.name)) continue;
    const partitions = new Map<number, bigint>();
    for (const p of topic.partitions)
      if (p.committedOffset >= 0n) partitions.set(p.partitionIndex, p.committedOffset);
    result.set(topic.name, partitions);
  }
  return result;
}

/** Records not yet committed by `groupId` on `topics`. */
export function lagOf(ends: Offsets, committed: Offsets, start: Offsets): number {
  let lag = 0;
  for (const [topic, partitions] of ends) {
    for (const [partition, end] of partitions) {
      const done = committed.get(topic)?.get(partition) ?? start.get(topic)?.get(partition) ?? 0n;
      lag += Number(end - done);
    }
  }
  return lag;
}

export const benchGroupId = (runId: string, fn: FunctionName | string): string => `bench-${runId}-${fn}`;

export function newAdmin(brokers: string[]): Admin {
  return new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers });
}
