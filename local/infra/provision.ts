import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  paginateListTables,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, paginateListTopics, SNSClient } from '@aws-sdk/client-sns';
import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';
import {
  channelNames,
  localTableName,
  localTopicName,
  manifest,
  tableNames,
} from '../../topology/manifest.ts';
import { type TopicSettings, topicSettings } from '../../topology/topics.ts';
import type { KeySpec, TableSpec } from '../../topology/types.ts';
import { localDynamoDbConfig } from './dynamodb.ts';
import { InfraError, type InfraService } from './errors.ts';
import { waitUntilReady } from './process.ts';
import { localSnsConfig, localTopicArn } from './sns.ts';

export interface ProvisionOptions {
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  snsEndpoint: string;
  /** Physical table names (and channel topic names) are `${tablePrefix}-${name}`; defaults to localTableName's prefix. */
  tablePrefix?: string;
}

export type ProvisionResult = Awaited<ReturnType<typeof provisionFromManifest>>;

/**
 * Creates the manifest's topics, tables and channels. Idempotent: what exists is kept (a topic with fewer
 * partitions than declared is grown; Kafka cannot shrink one), so every start can call it.
 */
export async function provisionFromManifest(options: ProvisionOptions) {
  const [topics, tables, channels] = await Promise.all([
    provisionTopics(options.kafkaBrokers),
    provisionTables(options.dynamodbEndpoint, options.tablePrefix),
    provisionChannels(options.snsEndpoint, options.tablePrefix),
  ]);
  return { topics, tables, channels };
}

/** The settings the stack's AWS::MSK::Topic resources get too (topology/topics.ts). */
/** Each topic's action: `grown` had fewer partitions than declared, `existing` was as declared (or larger). */
export async function provisionTopics(brokers: string[]) {
  const admin = new Admin({ clientId: 'local-infra-provision', bootstrapBrokers: brokers });
  const declared = topicSettings();
  const names = declared.map((topic) => topic.name);
  const configsOf = (topic: TopicSettings) =>
    Object.entries(topic.configs).map(([name, value]) => ({ name, value }));
  try {
    const existing = new Set(await admin.listTopics());
    const replicas = Math.min(3, (await admin.metadata({ topics: [] })).brokers.size);
    const before = await admin.metadata({ topics: names.filter((name) => existing.has(name)) });
    const provisioned = await Promise.all(
      declared.map(async (topic) => {
        const { name, partitions } = topic;
        if (!existing.has(name)) {
          const create = { topics: [name], partitions, replicas, configs: configsOf(topic) };
          // Another process may have created it in between: that is fine, anything else is not.
          const created = await admin.createTopics(create).then(
            () => true,
            async (error: unknown) => {
              if ((await admin.listTopics()).includes(name)) return false;
              throw provisionError('kafka', `creating topic ${name}`, error);
            },
          );
          if (created) return { ...topic, action: 'created' as const };
        }
        if ((before.topics.get(name)?.partitionsCount ?? partitions) >= partitions)
          return { ...topic, action: 'existing' as const };
        await admin.createPartitions({ topics: [{ name, count: partitions }] }).catch((error: unknown) => {
          throw provisionError('kafka', `growing topic ${name} to ${partitions} partitions`, error);
        });
        return { ...topic, action: 'grown' as const };
      }),
    );
    // Retention follows the manifest even for topics created earlier with another value.
    await admin.incrementalAlterConfigs({
      resources: declared.map((topic) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic.name,
        configs: configsOf(topic).map((config) => ({
          ...config,
          configOperation: IncrementalAlterConfigOperationTypes.SET,
        })),
      })),
    });
    // New partitions need a leader before the first produce; waiting here spares every caller a retry.
    const led = async () => {
      const { topics } = await admin.metadata({ topics: names, forceUpdate: true });
      return declared.every(({ name, partitions }) => {
        const topic = topics.get(name);
        return (
          topic !== undefined &&
          topic.partitionsCount >= partitions &&
          topic.partitions.every((p) => p.leader >= 0)
        );
      });
    };
    await waitUntilReady('kafka', 'a leader for every partition of the topics', led, { timeoutMs: 30_000 });
    return provisioned;
  } finally {
    await admin.close();
  }
}

/** The table's keys, TTL and indexes are the manifest's (`manifest.tables[table]`). */
export async function provisionTables(endpoint: string, tablePrefix?: string) {
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  try {
    const existing = new Set<string>();
    for await (const page of paginateListTables({ client }, {}))
      for (const name of page.TableNames ?? []) existing.add(name);
    return await Promise.all(
      tableNames.map(async (table) => {
        const spec: TableSpec = manifest.tables[table];
        const physicalName = localTableName(table, tablePrefix);
        let action: 'created' | 'existing' = 'existing';
        if (!existing.has(physicalName)) {
          const indexes = globalIndexes(spec);
          try {
            await client.send(
              new CreateTableCommand({
                TableName: physicalName,
                BillingMode: 'PAY_PER_REQUEST',
                AttributeDefinitions: attributeDefinitions(spec),
                KeySchema: keySchema(spec.partitionKey, spec.sortKey),
                ...(indexes.length > 0 ? { GlobalSecondaryIndexes: indexes } : {}),
              }),
            );
            action = 'created';
          } catch (error) {
            // Created by a concurrent provisioner: fine.
            if ((error as Error).name !== 'ResourceInUseException')
              throw provisionError('dynamodb', `creating table ${physicalName}`, error);
          }
          await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: physicalName });
        }
        if (spec.ttlAttribute) await ensureTtl(client, physicalName, spec.ttlAttribute);
        // A table made before an index was declared (an external, persistent endpoint) gets it now.
        if (action === 'existing') await ensureIndexes(client, physicalName, spec);
        return { table, physicalName, action };
      }),
    );
  } finally {
    client.destroy();
  }
}

/**
 * Creates the manifest's channels as SNS topics in moto (CreateTopic is idempotent). The functions were
 * handed each topic's ARN from its name (local/infra/sns.ts); a moto that names it otherwise (another
 * account) is refused here rather than found out at the first notification.
 */
export async function provisionChannels(endpoint: string, tablePrefix?: string) {
  const client = new SNSClient(localSnsConfig(endpoint));
  try {
    const existing = new Set<string>();
    for await (const page of paginateListTopics({ client }, {}))
      for (const topic of page.Topics ?? []) if (topic.TopicArn) existing.add(topic.TopicArn);
    return await Promise.all(
      channelNames.map(async (channel) => {
        const topicName = localTopicName(channel, tablePrefix);
        const topicArn = localTopicArn(channel, tablePrefix);
        const created = await client
          .send(new CreateTopicCommand({ Name: topicName }))
          .catch((error: unknown) => {
            throw provisionError('sns', `creating SNS topic ${topicName}`, error);
          });
        if (created.TopicArn !== topicArn)
          throw new InfraError(
            'sns',
            `moto named SNS topic ${topicName} ${created.TopicArn}, not ${topicArn}: is MOTO_ACCOUNT_ID set for its server?`,
          );
        const action = existing.has(topicArn) ? 'existing' : 'created';
        return { channel, topicName, topicArn, action };
      }),
    );
  } finally {
    client.destroy();
  }
}

const keySchema = (partitionKey: KeySpec, sortKey?: KeySpec): KeySchemaElement[] => [
  { AttributeName: partitionKey.name, KeyType: 'HASH' },
  ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
];

/** Every key attribute of the table and its indexes, once (the manifest checks their types agree). */
function attributeDefinitions(spec: TableSpec) {
  const keys = [
    spec.partitionKey,
    spec.sortKey,
    ...Object.values(spec.indexes ?? {}).flatMap((i) => [i.partitionKey, i.sortKey]),
  ];
  const types = new Map(keys.flatMap((key) => (key ? [[key.name, key.type] as const] : [])));
  return [...types].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

const globalIndexes = (spec: TableSpec): GlobalSecondaryIndex[] =>
  Object.entries(spec.indexes ?? {}).map(([name, index]) => ({
    IndexName: name,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: index.projection === 'all' ? 'ALL' : 'KEYS_ONLY' },
  }));

/** Creates the declared indexes a table lacks, one at a time (DynamoDB's rule), and waits for each. */
async function ensureIndexes(client: DynamoDBClient, TableName: string, spec: TableSpec) {
  const describe = async () =>
    (await client.send(new DescribeTableCommand({ TableName }))).Table?.GlobalSecondaryIndexes ?? [];
  const present = new Set((await describe()).map((index) => index.IndexName));
  for (const index of globalIndexes(spec).filter((i) => !present.has(i.IndexName))) {
    const what = `index ${index.IndexName} of table ${TableName}`;
    const update = {
      TableName,
      AttributeDefinitions: attributeDefinitions(spec),
      GlobalSecondaryIndexUpdates: [{ Create: index }],
    };
    await client.send(new UpdateTableCommand(update)).catch((error: unknown) => {
      throw provisionError('dynamodb', `creating ${what}`, error);
    });
    const active = async () =>
      (await describe()).find((i) => i.IndexName === index.IndexName)?.IndexStatus === 'ACTIVE';
    await waitUntilReady('dynamodb', what, active, { timeoutMs: 60_000 });
  }
}

/** DynamoDB refuses to enable TTL twice, so look first. */
async function ensureTtl(client: DynamoDBClient, TableName: string, AttributeName: string) {
  const { TimeToLiveDescription: ttl } = await client.send(new DescribeTimeToLiveCommand({ TableName }));
  if (ttl?.AttributeName === AttributeName && ['ENABLED', 'ENABLING'].includes(ttl.TimeToLiveStatus ?? ''))
    return;
  await client.send(
    new UpdateTimeToLiveCommand({ TableName, TimeToLiveSpecification: { AttributeName, Enabled: true } }),
  );
}

function provisionError(service: InfraService, what: string, error: unknown): InfraError {
  return new InfraError(service, `${what} failed: ${(error as Error).message ?? String(error)}`, {
    cause: error,
  });
}
