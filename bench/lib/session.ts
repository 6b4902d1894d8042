/** One measured (or tortured) run's resources on the stack: its tables, groups, topics and runtime child. */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin } from '@platformatic/kafka';
import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import { projectRoot } from '../../local/python/venv.ts';
import { kafkaConsumers } from '../../topology/topics.ts';
import {
  benchCatalog,
  benchGroupId,
  commitOffsets,
  dropTables,
  endOffsets,
  newAdmin,
  type Offsets,
  prepareTables,
} from './stack.ts';
import { consumerTopics } from './topics.ts';

/** Logs of the runtime children, kept after the run for post-mortems. */
export const benchLogDir = join(projectRoot, '.local', 'bench');

export function logFileFor(runId: string, what: string): string {
  mkdirSync(benchLogDir, { recursive: true });
  return join(benchLogDir, `${runId}-${what}.log`);
}

export interface PipelineSession {
  runId: string;
  tablePrefix: string;
  entries: CatalogEntry[];
  /** Where each function's consumer group starts: the end of its topic when the run began. */
  startOffsets: Offsets;
  dispose(): Promise<void>;
}

/**
 * Fresh tables stocked for `orders` orders (or with `entries`: a flash sale's one SKU), and consumer groups
 * of this run committed at the current end of their topics (a shared broker keeps other runs' records:
 * they are not ours to process).
 */
export async function preparePipeline(
  stack: { kafkaBrokers: string[]; dynamodbEndpoint: string; snsEndpoint: string },
  runId: string,
  stock: number,
  entries: CatalogEntry[] = benchCatalog(stock),
): Promise<PipelineSession> {
  const tablePrefix = `bench-${runId}`;
  await prepareTables(stack.dynamodbEndpoint, stack.snsEndpoint, tablePrefix, entries);
  const admin = newAdmin(stack.kafkaBrokers);
  let startOffsets: Offsets;
  try {
    startOffsets = await endOffsets(admin, consumerTopics());
    await commitGroupsAt(admin, runId, startOffsets);
  } finally {
    await admin.close();
  }
  return {
    runId,
    tablePrefix,
    entries,
    startOffsets,
    dispose: () => dropTables(stack.dynamodbEndpoint, tablePrefix),
  };
}

/** Commits each function's group of this run at `offsets` (of the function's own trigger topic). */
export async function commitGroupsAt(admin: Admin, runId: string, offsets: Offsets): Promise<void> {
  for (const { name, trigger } of kafkaConsumers) {
    const own = offsets.get(trigger.topic);
    if (own) await commitOffsets(admin, benchGroupId(runId, name), new Map([[trigger.topic, own]]));
  }
}
