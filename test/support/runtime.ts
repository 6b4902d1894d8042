/**
 * The one way a test starts the local runtime: on the integration run's broker, DynamoDB and SNS (global
 * setup), with the test's own tables, the API on a free port and the runtime's log silenced; each test
 * adds only what it is about (functions, wrappers, backoff, schedules).
 */
import { randomUUID } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import { provisionFromManifest } from '../../local/infra/index.ts';
import {
  type LocalRuntime,
  type LocalRuntimeOptions,
  startLocalRuntime,
} from '../../local/runtime/runtime.ts';
import { seedDemoInventory } from '../../local/runtime/seed.ts';
import { consumerGroupId, type FunctionName, kafkaConsumers, manifest } from '../../topology/index.ts';
import { testInfra } from './env.ts';

/** A runtime's options without the endpoints, which are always the integration run's. */
export type TestRuntimeOptions = Omit<
  LocalRuntimeOptions,
  'kafkaBrokers' | 'dynamodbEndpoint' | 'snsEndpoint'
> & {
  tablePrefix: string;
};

/** The options of a test's runtime: the run's endpoints, `apiPort: 0`, a silent log, then `options`. */
export function testRuntimeOptions(options: TestRuntimeOptions): LocalRuntimeOptions {
  const { kafkaBrokers, dynamodbEndpoint, snsEndpoint } = testInfra();
  return { kafkaBrokers, dynamodbEndpoint, snsEndpoint, apiPort: 0, log: () => {}, ...options };
}

/** Starts the local runtime for a test (see `testRuntimeOptions`). */
export const startTestRuntime = (options: TestRuntimeOptions): Promise<LocalRuntime> =>
  startLocalRuntime(testRuntimeOptions(options));

/** Consumer groups of the test's own (`<the function's group>-<name>-<run id>`): no other test's offsets. */
export function testGroupIds(name: string): (fn: FunctionName) => string {
  const runId = randomUUID().slice(0, 8);
  return (fn) => `${consumerGroupId(fn)}-${name}-${runId}`;
}

/**
 * The test's tables as the manifest declares them, `catalog` seeded into inventory, and (with `groupIdOf`)
 * every consumer's group at the end of its topic, so records earlier tests left there are not its own.
 */
export async function prepareTestStack(options: {
  tablePrefix: string;
  catalog?: readonly CatalogEntry[];
  groupIdOf?: (fn: FunctionName) => string;
}): Promise<void> {
  const { kafkaBrokers, dynamodbEndpoint, snsEndpoint } = testInfra();
  const { tablePrefix, catalog, groupIdOf } = options;
  await provisionFromManifest({ kafkaBrokers, dynamodbEndpoint, snsEndpoint, tablePrefix });
  if (catalog) await seedDemoInventory(dynamodbEndpoint, tablePrefix, catalog);
  if (groupIdOf) {
    for (const { name, trigger } of kafkaConsumers)
      await positionGroupAtEnd(kafkaBrokers, groupIdOf(name), trigger.topic);
  }
}

/** Moves a consumer group to the current end of `topic`, so that it only sees what is produced next. */
export async function positionGroupAtEnd(brokers: string[], groupId: string, topic: string): Promise<void> {
  const partitions = manifest.topics[topic as keyof typeof manifest.topics]?.partitions;
  if (!partitions) throw new Error(`unknown topic ${topic}`);
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers });
  try {
    const [listed] = await admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp: -1n,
          })),
        },
      ],
    });
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: topic,
          partitionOffsets: (listed?.partitions ?? []).map((p) => ({
            partition: p.partitionIndex,
            offset: p.offset,
          })),
        },
      ],
    });
  } finally {
    await admin.close();
  }
}
