import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { KpiName } from '../../events/schemas/events.ts';
import { ALL_STEPS_SERVICE } from '../../functions/kpis/metrics.ts';
import { CATALOG_ITEM_INVALID } from '../../functions/order-api/catalog.ts';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import { deadLetterTopic } from '../../topology/topics.ts';
import type { PipelineFunction } from './pipeline-functions.ts';
import { pascalCase } from './tables.ts';

export interface ObservabilityProps {
  functions: readonly PipelineFunction[];
  api: apigw.RestApi;
  alarmEmail?: string;
  /** Offset lag (records behind) a consumer may keep for five minutes before it alarms. */
  offsetLagThreshold?: number;
}

const MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

/**
 * A KPI across the steps. Powertools publishes each EMF metric with one dimension, `service` (the
 * step's name), so a SEARCH over `{namespace,service}` finds it whichever step emits it.
 */
function kpiSearch(name: KpiName, statistic: string, label: string, reduce?: 'SUM'): cw.MathExpression {
  const search = `SEARCH('{${METRICS_NAMESPACE},service} MetricName="${name}"', '${statistic}', 60)`;
  return new cw.MathExpression({
    expression: reduce ? `${reduce}(${search})` : search,
    label,
    period: MINUTE,
    usingMetrics: {},
  });
}

/** The KPI one step emits, as a plain metric (alarms cannot use SEARCH). */
const kpiMetric = (name: KpiName, service: string, period = FIVE_MINUTES) =>
  new cw.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service },
    statistic: cw.Stats.SUM,
    period,
  });

/** A pipeline function that consumes a topic (it has an event source mapping). */
type Consumer = Required<Pick<PipelineFunction, 'name' | 'fn' | 'mapping'>>;

/** Creates an alarm in `scope` that notifies the alarm topic; missing data is not breaching. */
type AlarmFactory = (alarmId: string, options: cw.AlarmProps) => cw.Alarm;

const consumersOf = (functions: readonly PipelineFunction[]): Consumer[] =>
  functions.flatMap(({ name, fn, mapping }) => (mapping ? [{ name, fn, mapping }] : []));

/**
 * The SNS topic the alarms notify, encrypted with a customer managed key CloudWatch may use, and its
 * optional email subscription.
 */
function createAlarmTopic(scope: Construct, alarmEmail: string | undefined): sns.Topic {
  const key = new kms.Key(scope, 'AlarmTopicKey', {
    description: 'Encrypts the order pipeline alarm topic',
    enableKeyRotation: true,
  });
  key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
  const topic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'Order pipeline alarms',
    masterKey: key,
    enforceSSL: true,
  });
  if (alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
  return topic;
}

function alarmsNotifying(scope: Construct, topic: sns.ITopic): AlarmFactory {
  const notify = new cwActions.SnsAction(topic);
  return (alarmId, options) => {
    const created = new cw.Alarm(scope, alarmId, {
      ...options,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    created.addAlarmAction(notify);
    return created;
  };
}

/** The sum over five minutes of `sources`, a missing one counting as 0. */
const sumOf = (sources: Record<string, cw.IMetric>, label?: string) =>
  new cw.MathExpression({
    expression: `SUM([${Object.keys(sources)
      .map((k) => `FILL(${k}, 0)`)
      .join(', ')}])`,
    usingMetrics: sources,
    period: FIVE_MINUTES,
    ...(label ? { label } : {}),
  });

/** The metrics of records each consumer dead-letters (poison, per step) or whose retries ran out. */
function deadLetterSources(consumers: readonly Consumer[]) {
  const exhausted: Record<string, cw.IMetric> = {};
  const poisonByStep: Record<string, cw.IMetric> = {};
  consumers.forEach(({ name, mapping }, index) => {
    poisonByStep[`poison${index}`] = kpiMetric(KpiName.enum.RecordsDeadLettered, name);
    exhausted[`exhausted${index}`] = new cw.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OnFailureDestinationDeliveredEventCount',
      dimensionsMap: { EventSourceMappingUUID: mapping.eventSourceMappingId },
      statistic: cw.Stats.SUM,
      period: FIVE_MINUTES,
    });
  });
  return { poisonByStep, exhausted };
}

/** A function's offset lag. No label on an alarmed metric: a label turns the alarm into a metric-math alarm. */
const offsetLag = (fnPhysicalName: string, label?: string) =>
  new cw.Metric({
    namespace: 'AWS/Lambda',
    metricName: 'OffsetLag',
    dimensionsMap: { FunctionName: fnPhysicalName },
    statistic: cw.Stats.MAXIMUM,
    period: MINUTE,
    ...(label ? { label } : {}),
  });

/** Alarm settings: any datapoint of at least one in five minutes. */
const ANY_IN_FIVE_MINUTES = {
  threshold: 1,
  evaluationPeriods: 1,
  comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
} as const;

/** One alarm per consumer that stays more than `threshold` records behind for five minutes. */
const offsetLagAlarms = (consumers: readonly Consumer[], alarm: AlarmFactory, threshold = 1000) =>
  consumers.map(({ name, fn }) =>
    alarm(`${pascalCase(name)}OffsetLagAlarm`, {
      alarmDescription: `${name} is falling behind its topic`,
      metric: offsetLag(fn.functionName),
      threshold,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    }),
  );

/**
 * One alarm per function with any failed invocation in five minutes.
 *
 * With ReportBatchItemFailures a record that fails on its own is answered in a successful invocation:
 * it never counts in Errors. It still alarms: it holds its partition back (offset lag) and, once its
 * retries are spent, reaches the on-failure topic (dead letters). A crash or timeout is an error, and
 * bisecting it retries halves, so one crash-type record shows as a few errors, then one dead letter.
 */
const errorAlarms = (functions: readonly PipelineFunction[], alarm: AlarmFactory) =>
  functions.map(({ name, fn }) =>
    alarm(`${pascalCase(name)}ErrorsAlarm`, {
      alarmDescription: `${name} invocations failed`,
      metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: cw.Stats.SUM }),
      ...ANY_IN_FIVE_MINUTES,
    }),
  );

/** Operator data order-api cannot sell: a catalog entry that does not fit its schema. */
const catalogItemInvalid = () =>
  new cw.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: CATALOG_ITEM_INVALID,
    dimensionsMap: { service: 'order-api' },
    statistic: cw.Stats.SUM,
    period: FIVE_MINUTES,
  });

/** The dashboard's top row: orders per minute and end-to-end latency, from the KPIs. */
const kpiWidgets = () => [
  new cw.GraphWidget({
    title: 'Orders per minute',
    width: 12,
    left: [
      kpiSearch(KpiName.enum.OrdersReceived, 'Sum', 'received', 'SUM'),
      kpiSearch(KpiName.enum.OrdersConfirmed, 'Sum', 'confirmed', 'SUM'),
      kpiSearch(KpiName.enum.OrdersRejected, 'Sum', 'rejected', 'SUM'),
      kpiSearch(KpiName.enum.OrdersShipped, 'Sum', 'shipped', 'SUM'),
    ],
  }),
  new cw.GraphWidget({
    title: 'End-to-end latency (ms), by reporting step',
    width: 12,
    left: [
      kpiSearch(KpiName.enum.EndToEndLatency, 'p50', 'p50'),
      kpiSearch(KpiName.enum.EndToEndLatency, 'p99', 'p99'),
    ],
  }),
];

/** The dashboard's second row: dead letters, each consumer's offset lag, and every alarm's state. */
const pipelineHealthWidgets = (
  deadLetters: cw.IMetric,
  consumers: readonly Consumer[],
  alarms: cw.IAlarm[],
) => [
  new cw.GraphWidget({
    title: 'Dead-lettered records (5 min)',
    width: 8,
    left: [deadLetters],
  }),
  new cw.GraphWidget({
    title: 'Offset lag per consumer (records)',
    width: 8,
    left: consumers.map(({ name, fn }) => offsetLag(fn.functionName, name)),
  }),
  new cw.AlarmStatusWidget({ title: 'Alarms', width: 8, alarms }),
];

/** The dashboard's third row: every function's errors, throttles and p99 duration. */
function lambdaWidgets(functions: readonly PipelineFunction[]) {
  const perFunction = (metric: (f: PipelineFunction) => cw.IMetric) => functions.map(metric);
  return [
    new cw.GraphWidget({
      title: 'Lambda errors',
      width: 8,
      left: perFunction(({ name, fn }) => fn.metricErrors({ period: MINUTE, label: name })),
    }),
    new cw.GraphWidget({
      title: 'Lambda throttles',
      width: 8,
      left: perFunction(({ name, fn }) => fn.metricThrottles({ period: MINUTE, label: name })),
    }),
    new cw.GraphWidget({
      title: 'Lambda duration p99 (ms)',
      width: 8,
      left: perFunction(({ name, fn }) =>
        fn.metricDuration({ period: MINUTE, statistic: 'p99', label: name }),
      ),
    }),
  ];
}

/** The dashboard's bottom row: the REST API's requests, errors and p99 latency. */
const apiWidgets = (api: apigw.RestApi) => [
  new cw.GraphWidget({
    title: 'API requests and errors',
    width: 12,
    left: [
      api.metricCount({ period: MINUTE, label: 'requests' }),
      api.metricClientError({ period: MINUTE, label: '4xx' }),
      api.metricServerError({ period: MINUTE, label: '5xx' }),
    ],
  }),
  new cw.GraphWidget({
    title: 'API latency p99 (ms)',
    width: 12,
    left: [api.metricLatency({ period: MINUTE, statistic: 'p99', label: 'latency p99' })],
  }),
];

/**
 * The pipeline's CloudWatch dashboard and alarms. Alarms notify an SNS topic encrypted with a customer
 * managed key (CloudWatch cannot publish to a topic under the AWS managed `aws/sns` key).
 */
export class Observability extends Construct {
  readonly dashboard: cw.Dashboard;
  readonly alarmTopic: sns.Topic;
  readonly deadLetterAlarm: cw.Alarm;
  readonly offsetLagAlarms: cw.Alarm[] = [];
  readonly errorAlarms: cw.Alarm[] = [];
  readonly catalogAlarm: cw.Alarm;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const consumers = consumersOf(props.functions);
    this.alarmTopic = createAlarmTopic(this, props.alarmEmail);
    const alarm = alarmsNotifying(this, this.alarmTopic);

    // Dead letters come from two places: poison records the steps dead-letter themselves (KPI), and
    // batches the mappings send to the on-failure destination after their retries.
    // The chart shows each step's poison records; an alarm's metric math takes at most 10 metrics, so the
    // alarm counts them as the kpis function totals them (every step's, and its own).
    const { poisonByStep, exhausted } = deadLetterSources(consumers);
    this.deadLetterAlarm = alarm('DeadLetterAlarm', {
      alarmDescription: `Records reached the ${deadLetterTopic} topic (poison records or exhausted retries)`,
      metric: sumOf({
        poisonAll: kpiMetric(KpiName.enum.RecordsDeadLettered, ALL_STEPS_SERVICE),
        poisonKpis: kpiMetric(KpiName.enum.RecordsDeadLettered, 'kpis'),
        ...exhausted,
      }),
      ...ANY_IN_FIVE_MINUTES,
    });
    this.offsetLagAlarms.push(...offsetLagAlarms(consumers, alarm, props.offsetLagThreshold));
    this.errorAlarms.push(...errorAlarms(props.functions, alarm));
    // Operator data order-api cannot sell (a catalog entry that does not fit its schema): the SKU is
    // refused (422) until someone fixes the entry, which no retry does.
    this.catalogAlarm = alarm('CatalogItemInvalidAlarm', {
      alarmDescription:
        'A catalog entry does not fit its schema: order-api refuses its SKU until it is fixed',
      metric: catalogItemInvalid(),
      ...ANY_IN_FIVE_MINUTES,
    });

    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-pipeline`,
      defaultInterval: Duration.hours(3),
    });
    const deadLetters = sumOf({ ...poisonByStep, ...exhausted }, 'Records dead-lettered');
    const alarms = [this.deadLetterAlarm, ...this.offsetLagAlarms, ...this.errorAlarms, this.catalogAlarm];
    // Each addWidgets call lays its widgets out as one row below the previous.
    this.dashboard.addWidgets(...kpiWidgets());
    this.dashboard.addWidgets(...pipelineHealthWidgets(deadLetters, consumers, alarms));
    this.dashboard.addWidgets(...lambdaWidgets(props.functions));
    this.dashboard.addWidgets(...apiWidgets(props.api));
  }
}
