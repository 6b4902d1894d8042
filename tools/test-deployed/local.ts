/**
 * A local stack (`npm start -- --iam`), as `npm run test:deployed -- --local <api url>` reads it: the local
 * equivalents of what the checks read from AWS. The stock from the local inventory table (DynamoDB
 * GetItem, as on AWS); the metrics and the dead letters from the local dashboard's `/api/snapshot`, the
 * local equivalent of the CloudWatch dashboard: its order counts are the KPI records the kpis function
 * published (what becomes the EMF metrics on AWS), its dead letters the records on the dead-letter topic
 * itself, which locally can be read.
 */
import { z } from 'zod';
import { localDynamoDbConfig } from '../../local/infra/dynamodb.ts';
import { localTableName } from '../../topology/manifest.ts';
import { type Moved, type Observatory, poll, stockReader } from './checks.ts';

/** The part of the dashboard's snapshot (local/dashboard/aggregator.ts) the checks read. */
const Snapshot = z.object({
  counts: z.object({
    received: z.number(),
    rejected: z.number(),
    cancelled: z.number(),
    shipped: z.number(),
  }),
  deadLetters: z.object({ byKpis: z.number(), onTopic: z.number().nullable() }),
});
type Snapshot = z.infer<typeof Snapshot>;

/** `tablePrefix`: `npm start -- --table-prefix`'s, `order-pipeline` by default. */
export function localObservatory(stack: {
  dashboardUrl: string;
  dynamodbEndpoint: string;
  tablePrefix?: string;
}): Observatory {
  const table = localTableName('inventory', stack.tablePrefix);
  const snapshotUrl = new URL('/api/snapshot', stack.dashboardUrl);
  let before: Snapshot | undefined;
  const snapshot = async (): Promise<Snapshot> => {
    const response = await fetch(snapshotUrl, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`${snapshotUrl}: ${response.status}`);
    return Snapshot.parse(await response.json());
  };
  return {
    sources: {
      stock: `local DynamoDB table ${table}`,
      metrics: `the local dashboard's counts, ${snapshotUrl}`,
      deadLetters: `the local dashboard's count of records on the dead-letter topic, ${snapshotUrl}`,
    },
    // The dashboard reads the dead-letter topic's offsets every 2 s: two reads after the last order's steps.
    deadLetterSettleMs: 4_500,
    async start() {
      // The dashboard's first read of the topic's offsets may not have happened yet.
      before = await poll(snapshot, (s) => s.deadLetters.onTopic !== null, 10_000, 500);
    },
    async moved(): Promise<Moved> {
      if (!before) throw new Error('moved() before start()');
      const [now, then] = [await snapshot(), before];
      const counts = Object.keys(now.counts) as (keyof Snapshot['counts'])[];
      const onTopic = now.deadLetters.onTopic !== null && then.deadLetters.onTopic !== null;
      return {
        ...(Object.fromEntries(counts.map((k) => [k, now.counts[k] - then.counts[k]])) as Snapshot['counts']),
        deadLetters: onTopic
          ? (now.deadLetters.onTopic ?? 0) - (then.deadLetters.onTopic ?? 0)
          : now.deadLetters.byKpis - then.deadLetters.byKpis,
      };
    },
    availableStock: stockReader(localDynamoDbConfig(stack.dynamodbEndpoint), table),
  };
}
