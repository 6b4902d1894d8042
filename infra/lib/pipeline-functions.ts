import { type CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KafkaDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPLAY_LEDGER_PREFIXES } from '../../functions/shared/idempotency.ts';
import {
  consumerGroupId,
  type FunctionName,
  functionNames,
  manifest,
  type TableName,
} from '../../topology/manifest.ts';
import { METRICS_NAMESPACE, RuntimeEnv, tableEnvironment } from '../../topology/runtime-env.ts';
import { kafkaTriggerOf } from '../../topology/topics.ts';
import type { FunctionSpec, KafkaTrigger, ScheduleTrigger } from '../../topology/types.ts';
import { RECORD_AGE_SECONDS } from '../../topology/validate.ts';
import { fromProjectRoot, functionDefaults } from './bundling.ts';
import type { PipelineConfig } from './config.ts';
import type { KafkaCluster } from './kafka-cluster.ts';
import { vpcLambdaRole } from './lambda-role.ts';
import { acceptFinding, acceptVpcFunctionRoleFindings } from './nag.ts';
import type { Network } from './network.ts';
import { pascalCase } from './tables.ts';

export interface PipelineFunctionsProps {
  network: Network;
  cluster: KafkaCluster;
  tables: Record<TableName, dynamodb.ITableV2>;
  /** The topics must exist before a mapping starts polling or a function produces. */
  topicsReady: Construct;
  /** Deployment settings of the event source mappings (CDK context); the manifest's otherwise. */
  mappings?: Pick<PipelineConfig, 'batchingWindowSeconds' | 'minimumPollers' | 'maximumPollers'>;
}

export interface PipelineFunction {
  name: FunctionName;
  spec: FunctionSpec;
  fn: NodejsFunction;
  /** The MSK event source mapping, for Kafka-triggered functions. */
  mapping?: lambda.EventSourceMapping;
  trigger?: KafkaTrigger;
  /** The EventBridge rule, for scheduled functions. */
  rule?: events.Rule;
}

const METRIC_TYPES = {
  EventCount: lambda.MetricType.EVENT_COUNT,
  ErrorCount: lambda.MetricType.ERROR_COUNT,
  KafkaMetrics: lambda.MetricType.KAFKA_METRICS,
} as const satisfies Record<KafkaTrigger['metrics'][number], lambda.MetricType>;

const isSchedule = (trigger: FunctionSpec['trigger']): trigger is ScheduleTrigger =>
  trigger.kind === 'schedule';

/**
 * The idempotency table also holds dlq:replay's claims (tools/dlq/ledger.ts), which decide that a dead
 * letter went back once: no function may write them, only the operator running the tool.
 */
function denyReplayClaims(role: iam.Role, table: dynamodb.ITableV2): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'NoReplayClaims',
      effect: iam.Effect.DENY,
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      resources: [table.tableArn],
      conditions: {
        'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': REPLAY_LEDGER_PREFIXES.map((p) => `${p}*`) },
      },
    }),
  );
}

/** The table grants of CDK cover the table's own indexes as `<table ARN>/index/*`. */
function acceptIndexGrant(role: iam.Role, table: dynamodb.ITableV2): void {
  const logicalId = Stack.of(role).getLogicalId(table.node.defaultChild as CfnResource);
  acceptFinding(
    role,
    `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
    "Queries the indexes of exactly this table (the manifest's, e.g. the orders outbox); no other table's",
  );
}

/**
 * One function per manifest entry, each with its own least-privilege role: Kafka IAM actions on exactly
 * the topics it produces to and (for consumers) its trigger topic and consumer group, DynamoDB access to
 * the tables the manifest lists for it (and their indexes), and an MSK event source mapping in provisioned
 * mode with the manifest's batching, retries and `kafka://` on-failure destination; a scheduled function
 * gets an EventBridge rule instead.
 */
export class PipelineFunctions extends Construct {
  readonly all: PipelineFunction[];
  private readonly mappings: PipelineFunctionsProps['mappings'];

  constructor(scope: Construct, id: string, props: PipelineFunctionsProps) {
    super(scope, id);
    const { network, cluster, tables } = props;
    this.mappings = props.mappings;
    const securityGroup = cluster.clientSecurityGroup(this, 'SecurityGroup', {
      description: 'Pipeline functions: Kafka and DynamoDB',
      https: true,
    });

    this.all = functionNames.map((name) => {
      const spec: FunctionSpec = manifest.functions[name];
      const trigger = kafkaTriggerOf(name);
      const schedule = isSchedule(spec.trigger) ? spec.trigger : undefined;
      const id = pascalCase(name);

      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = vpcLambdaRole(this, `${id}Role`, {
        description: `${name}: ${spec.description}`,
        logGroup,
        eventSourceMapping: trigger !== undefined,
      });
      const tableNamesUsed = Object.keys(spec.tables) as TableName[];

      const fn = new NodejsFunction(this, id, {
        ...functionDefaults,
        entry: fromProjectRoot(spec.entry),
        description: spec.description,
        memorySize: spec.memoryMb,
        timeout: Duration.seconds(spec.timeoutSeconds),
        role,
        logGroup,
        vpc: network.vpc,
        vpcSubnets: network.subnets,
        securityGroups: [securityGroup],
        // A failed scheduled run is not retried: the next tick runs it again.
        ...(schedule ? { retryAttempts: 0 } : {}),
        environment: {
          ...functionDefaults.environment,
          [RuntimeEnv.kafkaBrokers]: cluster.bootstrapBrokers,
          [RuntimeEnv.mskClusterArn]: cluster.clusterArn,
          [RuntimeEnv.kafkaAuth]: 'iam',
          [RuntimeEnv.serviceName]: name,
          [RuntimeEnv.metricsNamespace]: METRICS_NAMESPACE,
          [RuntimeEnv.logLevel]: 'INFO',
          ...tableEnvironment(tableNamesUsed, (table) => tables[table].tableName),
          ...spec.environment,
        },
      });
      // Topics first; and the security group rules, which the function does not reference by itself.
      fn.node.addDependency(props.topicsReady, securityGroup, cluster.securityGroup);

      this.grantKafka(role, cluster, name, spec, trigger);
      for (const table of tableNamesUsed) {
        if (spec.tables[table] === 'read') tables[table].grantReadData(role);
        else tables[table].grantReadWriteData(role);
        if ('indexes' in manifest.tables[table]) acceptIndexGrant(role, tables[table]);
        if (table === 'idempotency' && spec.tables[table] === 'readwrite')
          denyReplayClaims(role, tables[table]);
      }

      const mapping = trigger ? this.mapping(fn, cluster, name, trigger, props.topicsReady) : undefined;
      const rule = schedule ? this.schedule(fn, name, schedule) : undefined;
      return { name, spec, fn, mapping, trigger, rule };
    });
    acceptVpcFunctionRoleFindings(this);
  }

  private grantKafka(
    role: iam.Role,
    cluster: KafkaCluster,
    name: FunctionName,
    spec: FunctionSpec,
    trigger: KafkaTrigger | undefined,
  ): void {
    // The on-failure destination is written by the mapping with this role, so it counts as produced to.
    const writes = [...new Set([...spec.produces, ...(trigger ? [trigger.onFailure] : [])])];
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KafkaCluster',
        actions: [
          'kafka-cluster:Connect',
          'kafka-cluster:DescribeCluster',
          // The producers are idempotent (InitProducerId is a cluster-level action).
          ...(writes.length > 0 ? ['kafka-cluster:WriteDataIdempotently'] : []),
          ...(trigger ? ['kafka-cluster:DescribeClusterDynamicConfiguration'] : []),
        ],
        resources: [cluster.clusterArn],
      }),
    );
    if (writes.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'KafkaProduce',
          actions: ['kafka-cluster:WriteData', 'kafka-cluster:DescribeTopic'],
          resources: writes.map((topic) => cluster.topicArn(topic)),
        }),
      );
    }
    if (!trigger) return;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KafkaConsumeTopic',
        actions: ['kafka-cluster:ReadData', 'kafka-cluster:DescribeTopic'],
        resources: [cluster.topicArn(trigger.topic)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KafkaConsumerGroup',
        actions: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
        resources: [cluster.groupArn(consumerGroupId(name))],
      }),
    );
    // The mapping itself: cluster description and brokers through the MSK API.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EventSourceMappingCluster',
        actions: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
        resources: [cluster.clusterArn],
      }),
    );
  }

  /** Invokes the function every `rateMinutes` (asynchronously: EventBridge does not wait for it). */
  private schedule(fn: NodejsFunction, name: FunctionName, schedule: ScheduleTrigger): events.Rule {
    return new events.Rule(this, `${pascalCase(name)}Schedule`, {
      description: `${name}: every ${schedule.rateMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(schedule.rateMinutes)),
      // A tick that cannot be delivered within a rate is dropped: the next one does the same work.
      targets: [
        new targets.LambdaFunction(fn, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(Math.max(1, schedule.rateMinutes)),
        }),
      ],
    });
  }

  private mapping(
    fn: NodejsFunction,
    cluster: KafkaCluster,
    name: FunctionName,
    trigger: KafkaTrigger,
    topicsReady: Construct,
  ): lambda.EventSourceMapping {
    const mapping = new lambda.EventSourceMapping(this, `${pascalCase(name)}Mapping`, {
      target: fn,
      eventSourceArn: cluster.clusterArn,
      kafkaTopic: trigger.topic,
      kafkaConsumerGroupId: consumerGroupId(name),
      startingPosition: lambda.StartingPosition[trigger.startingPosition],
      batchSize: trigger.batchSize,
      maxBatchingWindow: Duration.seconds(
        this.mappings?.batchingWindowSeconds ?? trigger.maximumBatchingWindowSeconds,
      ),
      retryAttempts: trigger.retryAttempts,
      // Lambda produces the batch that exhausted its retries to this topic (`kafka://DeadLetterQueue`).
      onFailure: new KafkaDlq(trigger.onFailure),
      // Provisioned mode: required by the Kafka on-failure destination and the retry controls, and lets
      // the pollers reach the cluster without NAT or VPC endpoints. Never more pollers than partitions
      // (a partition is read by one member of the group); all mappings share one poller group, so a
      // quiet pipeline pays for the fewest event poller units.
      provisionedPollerConfig: {
        minimumPollers: this.mappings?.minimumPollers ?? 1,
        maximumPollers: Math.max(
          this.mappings?.minimumPollers ?? 1,
          this.mappings?.maximumPollers ?? manifest.topics[trigger.topic].partitions,
        ),
        pollerGroupName: `${Stack.of(this).stackName}-pollers`,
      },
      // The error-handling controls come from the manifest alone, never from context: the consumers and the
      // local emulator are written against them (a function answering `batchItemFailures` to a mapping
      // without ReportBatchItemFailures would have its failed records counted as done).
      // https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html
      bisectBatchOnError: trigger.bisectBatchOnFunctionError,
      reportBatchItemFailures: trigger.reportBatchItemFailures,
      ...(trigger.maximumRecordAgeSeconds === RECORD_AGE_SECONDS.never
        ? {}
        : { maxRecordAge: Duration.seconds(trigger.maximumRecordAgeSeconds) }),
      // EventCount includes the records delivered to the on-failure destination (alarmed on).
      metricsConfig: { metrics: trigger.metrics.map((metric) => METRIC_TYPES[metric]) },
      logLevel: lambda.EventSourceMappingLogLevel[trigger.systemLogLevel],
    });
    if (trigger.maximumRecordAgeSeconds === RECORD_AGE_SECONDS.never) {
      // CDK's maxRecordAge cannot say -1 (it takes 60 s..7 days). Written out rather than left to the
      // default so the template states it, and so that a later change back from a finite age resets it.
      (mapping.node.defaultChild as lambda.CfnEventSourceMapping).addPropertyOverride(
        'MaximumRecordAgeInSeconds',
        RECORD_AGE_SECONDS.never,
      );
    }
    // The pollers use the cluster's security group: its rules must exist before they start.
    mapping.node.addDependency(topicsReady, cluster.securityGroup);
    return mapping;
  }
}
