/** One measured (or tortured) run's resources on the stack: its tables, groups, topics and runtime child. */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Admin } from '@platformatic/kafka';
import { type CatalogEntry, seedInventory } from '../../functions/shared/catalog.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { provisionChannels, provisionTables } from '../../local/infra/provision.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { localTableName, tableNames } from '../../topology/manifest.ts';
import { kafkaConsumers } from '../../topology/topics.ts';
import { type BenchStack, benchCatalog, benchGroupId, endOffsets, newAdmin, type Offsets } from './stack.ts';
import { consumerTopics } from './topics.ts';

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
    startOffsets = await endOffsets(admin, consumerTopics());
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
export type PipelineSession = Awaited<ReturnType<typeof preparePipeline>>;

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
