/**
 * The deployed stack, as `npm run test:deployed -- --stack <name>` reads it: its outputs and its
 * dead-letter alarm (CloudFormation), the stock in its inventory table (DynamoDB GetItem), the dashboard's
 * KPI metrics and the alarm's metrics (CloudWatch GetMetricData). The dead-letter topic itself is on MSK,
 * in isolated subnets: it cannot be read from outside the VPC, so the check reads what the alarm counts —
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
import type { defaultProvider } from '@aws-sdk/credential-provider-node';
import { z } from 'zod';
import { KpiName } from '../../events/schemas/events.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import { type Moved, type Observatory, stockReader } from './checks.ts';

/** The outputs the checks need (infra/lib/order-pipeline-stack.ts names them). */
export const StackOutputs = z.object({
  ApiUrl: z.url(),
  TableInventory: z.string().min(1),
  DashboardName: z.string().optional(),
});

/** The caller's region and credentials (the SDK's default provider chain). */
export type AwsSession = { region: string; credentials: ReturnType<typeof defaultProvider> };

/** The stack's outputs, and the physical name of its dead-letter alarm (logical id `ObservabilityDeadLetterAlarm…`). */
export async function readStack(stackName: string, session: AwsSession) {
  const cfn = new CloudFormationClient(session);
  try {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = StackOutputs.safeParse(
      Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue])),
    );
    if (!outputs.success)
      throw new Error(
        `stack ${stackName} lacks the outputs ${z.prettifyError(outputs.error)} (is it this project's stack, fully deployed?)`,
      );
    const { StackResources } = await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }));
    const alarm = StackResources?.find(
      (r) =>
        r.ResourceType === 'AWS::CloudWatch::Alarm' &&
        r.LogicalResourceId?.startsWith('ObservabilityDeadLetterAlarm'),
    )?.PhysicalResourceId;
    if (!alarm) throw new Error(`stack ${stackName} has no dead-letter alarm`);
    return { stackName, outputs: outputs.data, alarm };
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

/** Every datapoint of every series, per query id: a SEARCH answers one result per series, all under its id. */
export function totalsById(results: readonly MetricDataResult[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const { Id = '', Values = [] } of results)
    totals.set(
      Id,
      Values.reduce((sum, value) => sum + value, totals.get(Id) ?? 0),
    );
  return totals;
}

/** An alarm's own metric queries, at a minute's period instead of its five: fewer minutes from before the run. */
export const perMinute = (queries: readonly MetricDataQuery[]): MetricDataQuery[] =>
  queries.map((query) =>
    query.MetricStat ? { ...query, MetricStat: { ...query.MetricStat, Period: 60 } } : query,
  );

export function awsObservatory(
  stack: Awaited<ReturnType<typeof readStack>>,
  session: AwsSession,
): Observatory {
  const cloudWatch = new CloudWatchClient(session);
  // Minute buckets: the first is the minute the run began, so it may hold up to 59 s from before.
  let startTime = new Date();
  let alarmQueries: MetricDataQuery[] = [];
  const totals = async (queries: MetricDataQuery[]) => {
    const EndTime = new Date(Date.now() + 60_000);
    const answer = await cloudWatch.send(
      new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: startTime, EndTime }),
    );
    return totalsById(answer.MetricDataResults ?? []);
  };
  return {
    sources: {
      stock: `DynamoDB table ${stack.outputs.TableInventory}`,
      metrics: `CloudWatch GetMetricData, namespace ${METRICS_NAMESPACE}, the dashboard's SEARCH expressions`,
      deadLetters: `CloudWatch, the metrics of alarm ${stack.alarm}: the steps' poison records and every mapping's OnFailureDestinationDeliveredEventCount`,
    },
    // The metrics arrive a minute or two late; a mapping's on-failure deliveries after its retries later.
    deadLetterSettleMs: 60_000,
    async start() {
      startTime = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      const { MetricAlarms } = await cloudWatch.send(
        new DescribeAlarmsCommand({ AlarmNames: [stack.alarm] }),
      );
      alarmQueries = perMinute(MetricAlarms?.[0]?.Metrics ?? []);
      if (alarmQueries.length === 0) throw new Error(`alarm ${stack.alarm} has no metric queries`);
    },
    async moved(): Promise<Moved> {
      const byId = await totals(Object.entries(COUNTED).map(([id, name]) => kpiQuery(id, name)));
      // Only the alarm's returned query (its SUM of every source) comes back.
      const deadLetters = [...(await totals(alarmQueries)).values()].reduce((a, b) => a + b, 0);
      const counts = Object.fromEntries(Object.keys(COUNTED).map((id) => [id, byId.get(id) ?? 0]));
      return { ...(counts as Omit<Moved, 'deadLetters'>), deadLetters };
    },
    availableStock: stockReader(session, stack.outputs.TableInventory),
  };
}
