/**
 * The deployed stack, as `npm run test:deployed -- --stack <name>` reads it: its outputs (CloudFormation
 * DescribeStacks), the stock in its inventory table (DynamoDB GetItem), the dashboard's KPI metrics and
 * its dead-letter alarm's metrics (CloudWatch GetMetricData). The dead-letter topic itself is on MSK, in
 * isolated subnets: it cannot be read from outside the VPC, so the check reads what the alarm counts —
 * the poison records the steps dead-letter (KPI `RecordsDeadLettered`) and every mapping's
 * `OnFailureDestinationDeliveredEventCount`.
 */
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { defaultProvider } from '@aws-sdk/credential-provider-node';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { KpiName } from '../../events/schemas/events.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import type { Moved, Observatory } from './checks.ts';

/** The outputs the checks need (infra/lib/order-pipeline-stack.ts names them). */
export const StackOutputs = z.object({
  ApiUrl: z.url(),
  TableInventory: z.string().min(1),
  DashboardName: z.string().optional(),
});
export type StackOutputs = z.infer<typeof StackOutputs>;

export interface AwsSession {
  region: string;
  /** The caller's credentials: the SDK's default provider chain. */
  credentials: ReturnType<typeof defaultProvider>;
}

export async function readStackOutputs(stackName: string, session: AwsSession): Promise<StackOutputs> {
  const cfn = new CloudFormationClient(session);
  try {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    const parsed = StackOutputs.safeParse(outputs);
    if (!parsed.success)
      throw new Error(
        `stack ${stackName} lacks the outputs ${z.prettifyError(parsed.error)} (is it this project's stack, fully deployed?)`,
      );
    return parsed.data;
  } finally {
    cfn.destroy();
  }
}

/** The physical name of the stack's dead-letter alarm (logical id `ObservabilityDeadLetterAlarm…`). */
async function deadLetterAlarmName(stackName: string, session: AwsSession): Promise<string> {
  const cfn = new CloudFormationClient(session);
  try {
    const { StackResources } = await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }));
    const alarm = (StackResources ?? []).find(
      (r) =>
        r.ResourceType === 'AWS::CloudWatch::Alarm' &&
        r.LogicalResourceId?.startsWith('ObservabilityDeadLetterAlarm'),
    );
    if (!alarm?.PhysicalResourceId) throw new Error(`stack ${stackName} has no dead-letter alarm`);
    return alarm.PhysicalResourceId;
  } finally {
    cfn.destroy();
  }
}

/**
 * The KPI across the steps, with the dashboard's SEARCH (every `service` that emits it). Not wrapped in
 * SUM(): the series are added here, so a search that finds none yet is a zero, not an error.
 */
const kpiQuery = (id: string, name: KpiName): MetricDataQuery => ({
  Id: id,
  Expression: `SEARCH('{${METRICS_NAMESPACE},service} MetricName="${name}"', 'Sum', 60)`,
  Period: 60,
  ReturnData: true,
});

const COUNTED = {
  received: KpiName.enum.OrdersReceived,
  rejected: KpiName.enum.OrdersRejected,
  cancelled: KpiName.enum.OrdersCancelled,
  shipped: KpiName.enum.OrdersShipped,
} as const;

const sumOf = (values: readonly number[] | undefined) => (values ?? []).reduce((a, b) => a + b, 0);

/** Every datapoint of every series, per query id: a SEARCH answers one result per series, all under its id. */
export function totalsById(results: readonly MetricDataResult[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const result of results)
    totals.set(result.Id ?? '', (totals.get(result.Id ?? '') ?? 0) + sumOf(result.Values));
  return totals;
}

/** An alarm's own metric queries, at a minute's period instead of its five: fewer minutes from before the run. */
export const perMinute = (queries: readonly MetricDataQuery[]): MetricDataQuery[] =>
  queries.map((query) =>
    query.MetricStat ? { ...query, MetricStat: { ...query.MetricStat, Period: 60 } } : query,
  );

export function awsObservatory(stackName: string, outputs: StackOutputs, session: AwsSession): Observatory {
  const cloudWatch = new CloudWatchClient(session);
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(session));
  // Minute buckets: the first is the minute the run began, so it may hold up to 59 s from before.
  let startTime = new Date();
  let alarmQueries: MetricDataQuery[] = [];
  let alarmName = 'the dead-letter alarm';

  const metricData = async (queries: MetricDataQuery[]) => {
    const { MetricDataResults } = await cloudWatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: startTime,
        EndTime: new Date(Date.now() + 60_000),
      }),
    );
    return MetricDataResults ?? [];
  };

  return {
    sources: {
      stock: `DynamoDB table ${outputs.TableInventory}`,
      metrics: `CloudWatch GetMetricData, namespace ${METRICS_NAMESPACE}, the dashboard's SEARCH expressions`,
      get deadLetters() {
        return `CloudWatch, the metrics of alarm ${alarmName}: the steps' poison records and every mapping's OnFailureDestinationDeliveredEventCount`;
      },
    },
    // The metrics arrive a minute or two late; a mapping's on-failure deliveries after its retries later.
    deadLetterSettleMs: 60_000,
    async start() {
      startTime = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      alarmName = await deadLetterAlarmName(stackName, session);
      const { MetricAlarms } = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarmName] }));
      alarmQueries = perMinute(MetricAlarms?.[0]?.Metrics ?? []);
      if (alarmQueries.length === 0) throw new Error(`alarm ${alarmName} has no metric queries`);
    },
    async moved(): Promise<Moved> {
      const byId = totalsById(
        await metricData(Object.entries(COUNTED).map(([id, name]) => kpiQuery(id, name))),
      );
      // Only the alarm's returned query (its SUM of every source) comes back.
      const deadLetters = [...totalsById(await metricData(alarmQueries)).values()].reduce((a, b) => a + b, 0);
      return {
        received: byId.get('received') ?? 0,
        rejected: byId.get('rejected') ?? 0,
        cancelled: byId.get('cancelled') ?? 0,
        shipped: byId.get('shipped') ?? 0,
        deadLetters,
      };
    },
    async availableStock(sku) {
      const { Item } = await documents.send(
        new GetCommand({ TableName: outputs.TableInventory, Key: { sku }, ConsistentRead: true }),
      );
      return z.object({ available: z.number() }).parse(Item).available;
    },
  };
}
