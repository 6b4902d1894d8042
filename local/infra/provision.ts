import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AttributeDefinition,
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
import type { TopicName } from '../../events/topics.ts';
import {
  type ChannelName,
  channelNames,
  localTableName,
  localTopicName,
  manifest,
  type TableName,
  tableNames,
} from '../../topology/manifest.ts';
import { type TopicSettings, topicSettings } from '../../topology/topics.ts';
import type { IndexSpec, KeySpec, TableSpec } from '../../topology/types.ts';
import { localDynamoDbConfig } from './dynamodb.ts';
import { InfraError, type InfraService } from './errors.ts';
import { localSnsConfig, localTopicArn } from './sns.ts';

export interface ProvisionOptions {
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  /** moto's SNS, for the manifest's channels. */
  snsEndpoint: string;
  /** Physical table names (and channel topic names) are `${tablePrefix}-${name}`; defaults to localTableName's prefix. */
  tablePrefix?: string;
  log?: (line: string) => void;
}

export interface ProvisionedTopic {
  name: TopicName;
  partitions: number;
  retentionMs: number;
  /** `created`: new; `grown`: had fewer partitions than declared; `existing`: already as declared (or larger). */
  action: 'created' | 'grown' | 'existing';
}

export interface ProvisionedTable {
  table: TableName;
  physicalName: string;
  partitionKey: string;
  sortKey?: string;
  ttlAttribute?: string;
  /** Global secondary indexes, by name. */
  indexes: string[];
  action: 'created' | 'existing';
}

/** A channel's SNS topic in moto. */
export interface ProvisionedChannel {
  channel: ChannelName;
  topicName: string;
  topicArn: string;
  action: 'created' | 'existing';
}

export interface ProvisionResult {
  topics: ProvisionedTopic[];
  tables: ProvisionedTable[];
  channels: ProvisionedChannel[];
}

/**
 * Creates the manifest's topics and tables. Idempotent: what exists is kept (a topic with fewer
 * partitions than declared is grown; Kafka cannot shrink one), so every start can call it.
 */
export async function provisionFromManifest(options: ProvisionOptions): Promise<ProvisionResult> {
  const [topics, tables, channels] = await Promise.all([
    provisionTopics(options.kafkaBrokers),
    provisionTables(options.dynamodbEndpoint, options.tablePrefix),
    provisionChannels(options.snsEndpoint, options.tablePrefix),
  ]);
  return { topics, tables, channels };
}

export async function provisionTopics(brokers: string[]): Promise<ProvisionedTopic[]> {
  const admin = new Admin({ clientId: 'local-infra-provision', bootstrapBrokers: brokers });
  try {
    // The settings the stack's AWS::MSK::Topic resources get too (topology/topics.ts).
    const declared = topicSettings().map((t): [TopicName, TopicSettings] => [t.name, t]);
    const existing = new Set(await admin.listTopics());
    const brokerCount = (await admin.metadata({ topics: [] })).brokers.size;
    const replicas = Math.min(3, Math.max(1, brokerCount));

    const actions = new Map<TopicName, ProvisionedTopic['action']>();
    for (const [name, spec] of declared) {
      if (existing.has(name)) continue;
      try {
        await admin.createTopics({
          topics: [name],
          partitions: spec.partitions,
          replicas,
          configs: Object.entries(spec.configs).map(([config, value]) => ({ name: config, value })),
        });
        actions.set(name, 'created');
      } catch (error) {
        // Another process may have created it in between: that is fine, anything else is not.
        if (!(await admin.listTopics()).includes(name))
          throw provisionError('kafka', `creating topic ${name}`, error);
      }
    }

    const metadata = await admin.metadata({ topics: declared.map(([name]) => name), forceUpdate: true });
    for (const [name, spec] of declared) {
      const current = metadata.topics.get(name)?.partitionsCount ?? 0;
      if (actions.has(name)) continue;
      if (current < spec.partitions) {
        await admin
          .createPartitions({ topics: [{ name, count: spec.partitions }] })
          .catch((error: unknown) => {
            throw provisionError('kafka', `growing topic ${name} to ${spec.partitions} partitions`, error);
          });
        actions.set(name, 'grown');
      } else {
        actions.set(name, 'existing');
      }
    }
    // Retention follows the manifest even for topics created earlier with another value.
    await admin.incrementalAlterConfigs({
      resources: declared.map(([name, spec]) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: name,
        configs: Object.entries(spec.configs).map(([config, value]) => ({
          name: config,
          configOperation: IncrementalAlterConfigOperationTypes.SET,
          value,
        })),
      })),
    });
    await waitForLeaders(
      admin,
      declared.map(([name, spec]) => [name, spec.partitions]),
    );

    return declared.map(([name, spec]) => ({
      name,
      partitions: spec.partitions,
      retentionMs: Number(spec.configs['retention.ms']),
      action: actions.get(name) ?? 'existing',
    }));
  } finally {
    await admin.close();
  }
}

/** New partitions need a leader before the first produce; waiting here spares every caller a retry. */
async function waitForLeaders(admin: Admin, topics: [string, number][], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metadata = await admin.metadata({ topics: topics.map(([name]) => name), forceUpdate: true });
    const ready = topics.every(([name, partitions]) => {
      const topic = metadata.topics.get(name);
      return (
        topic !== undefined &&
        topic.partitionsCount >= partitions &&
        topic.partitions.every((partition) => partition.leader >= 0)
      );
    });
    if (ready) return;
    if (Date.now() > deadline) {
      throw new InfraError(
        'kafka',
        'provision-failed',
        'the topics did not get partition leaders within 30 s',
      );
    }
    await sleep(200);
  }
}

export async function provisionTables(endpoint: string, tablePrefix?: string): Promise<ProvisionedTable[]> {
  const client = new DynamoDBClient(localDynamoDbConfig(endpoint));
  try {
    const existing = new Set<string>();
    for await (const page of paginateListTables({ client }, {})) {
      for (const name of page.TableNames ?? []) existing.add(name);
    }
    return await Promise.all(
      tableNames.map(async (table): Promise<ProvisionedTable> => {
        const spec: TableSpec = manifest.tables[table];
        const physicalName = localTableName(table, tablePrefix);
        const indexes = Object.entries(spec.indexes ?? {}).map(([name, index]) => globalIndex(name, index));
        let action: ProvisionedTable['action'] = 'existing';
        if (!existing.has(physicalName)) {
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
            if ((error as Error).name !== 'ResourceInUseException') {
              throw provisionError('dynamodb', `creating table ${physicalName}`, error);
            }
          }
          await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: physicalName });
        }
        if (spec.ttlAttribute) await ensureTtl(client, physicalName, spec.ttlAttribute);
        // A table made before an index was declared (an external, persistent endpoint) gets it now.
        if (action === 'existing') await ensureIndexes(client, physicalName, spec, indexes);
        return {
          table,
          physicalName,
          partitionKey: spec.partitionKey.name,
          sortKey: spec.sortKey?.name,
          ttlAttribute: spec.ttlAttribute,
          indexes: indexes.map((index) => index.IndexName as string),
          action,
        };
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
export async function provisionChannels(
  endpoint: string,
  tablePrefix?: string,
): Promise<ProvisionedChannel[]> {
  const client = new SNSClient(localSnsConfig(endpoint));
  try {
    const existing = new Set<string>();
    for await (const page of paginateListTopics({ client }, {})) {
      for (const topic of page.Topics ?? []) if (topic.TopicArn) existing.add(topic.TopicArn);
    }
    return await Promise.all(
      channelNames.map(async (channel): Promise<ProvisionedChannel> => {
        const topicName = localTopicName(channel, tablePrefix);
        const expected = localTopicArn(channel, tablePrefix);
        const { TopicArn } = await client
          .send(new CreateTopicCommand({ Name: topicName }))
          .catch((error: unknown) => {
            throw provisionError('sns', `creating SNS topic ${topicName}`, error);
          });
        if (TopicArn !== expected) {
          throw new InfraError(
            'sns',
            'provision-failed',
            `moto named SNS topic ${topicName} ${TopicArn}, not ${expected}: is MOTO_ACCOUNT_ID set for its server?`,
          );
        }
        return {
          channel,
          topicName,
          topicArn: expected,
          action: existing.has(expected) ? 'existing' : 'created',
        };
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
function attributeDefinitions(spec: TableSpec): AttributeDefinition[] {
  const keys = [
    spec.partitionKey,
    spec.sortKey,
    ...Object.values(spec.indexes ?? {}).flatMap((i) => [i.partitionKey, i.sortKey]),
  ];
  const types = new Map<string, KeySpec['type']>();
  for (const key of keys) if (key) types.set(key.name, key.type);
  return [...types].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

function globalIndex(name: string, index: IndexSpec): GlobalSecondaryIndex {
  return {
    IndexName: name,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: index.projection === 'all' ? 'ALL' : 'KEYS_ONLY' },
  };
}

/** Creates the declared indexes a table lacks, one at a time (DynamoDB's rule), and waits for each. */
async function ensureIndexes(
  client: DynamoDBClient,
  tableName: string,
  spec: TableSpec,
  indexes: GlobalSecondaryIndex[],
) {
  const describe = async () =>
    (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table?.GlobalSecondaryIndexes ??
    [];
  const present = new Set((await describe()).map((index) => index.IndexName));
  for (const index of indexes) {
    if (present.has(index.IndexName)) continue;
    await client
      .send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: attributeDefinitions(spec),
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        }),
      )
      .catch((error: unknown) => {
        throw provisionError('dynamodb', `creating index ${index.IndexName} of table ${tableName}`, error);
      });
    const deadline = Date.now() + 60_000;
    while ((await describe()).find((i) => i.IndexName === index.IndexName)?.IndexStatus !== 'ACTIVE') {
      if (Date.now() > deadline)
        throw provisionError(
          'dynamodb',
          `waiting for index ${index.IndexName} of table ${tableName}`,
          new Error('not active after 60 s'),
        );
      await sleep(200);
    }
  }
}

/** DynamoDB refuses to enable TTL twice, so look first. */
async function ensureTtl(client: DynamoDBClient, tableName: string, attribute: string) {
  const { TimeToLiveDescription: ttl } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  const enabled = ttl?.TimeToLiveStatus === 'ENABLED' || ttl?.TimeToLiveStatus === 'ENABLING';
  if (enabled && ttl?.AttributeName === attribute) return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
    }),
  );
}

function provisionError(service: InfraService, what: string, error: unknown): InfraError {
  const reason = (error as Error).message ?? String(error);
  return new InfraError(service, 'provision-failed', `${what} failed: ${reason}`, { cause: error });
}
