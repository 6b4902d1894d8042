import { type ChannelName, channelEnvVar, type TableName, tableEnvVar } from './manifest.ts';

/**
 * The environment contract between the deployers (CDK stack, local runtime) and the functions.
 * Both sides import these names, so a function never reads a variable nobody sets.
 */
export const RuntimeEnv = {
  /** Comma-separated bootstrap brokers. Set locally; on AWS optional when MSK_CLUSTER_ARN is set. */
  kafkaBrokers: 'KAFKA_BROKERS',
  /** The MSK cluster ARN; bootstrap brokers are resolved from it through GetBootstrapBrokers (SASL/IAM). */
  mskClusterArn: 'MSK_CLUSTER_ARN',
  /** `iam` (TLS + SASL OAUTHBEARER signed with the function's role) or `none` (plaintext, local only). */
  kafkaAuth: 'KAFKA_AUTH',
  /** Local only: the DynamoDB endpoint (dynoxide); unset on AWS. */
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  /**
   * How the notification step reaches customers: `sns` (the default: the `notifications` channel's topic,
   * whose ARN must then be set) or `log` (a log line stands for the message, chosen explicitly, never a
   * fallback).
   */
  notificationChannel: 'NOTIFICATION_CHANNEL',
  /** Local only: the SNS endpoint (moto's server, on a port of its own); unset on AWS. */
  snsEndpoint: 'SNS_ENDPOINT',
  /** CloudWatch namespace of the EMF metrics every step emits. */
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;

export const METRICS_NAMESPACE = 'OrderPipeline';

export type KafkaAuth = 'iam' | 'none';

/** Environment a function needs for the tables it uses: `TABLE_<NAME>` → physical table name. */
export function tableEnvironment(tables: Iterable<TableName>, physicalName: (table: TableName) => string) {
  return Object.fromEntries([...tables].map((t) => [tableEnvVar(t), physicalName(t)]));
}

/** Environment a function needs for the channels it publishes to: `<CHANNEL>_TOPIC_ARN` → topic ARN. */
export function channelEnvironment(
  channels: Iterable<ChannelName>,
  topicArn: (channel: ChannelName) => string,
) {
  return Object.fromEntries([...channels].map((c) => [channelEnvVar(c), topicArn(c)]));
}
