import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { PipelineConfig } from './config.ts';
import { InventorySeed } from './inventory-seed.ts';
import { KafkaCluster } from './kafka-cluster.ts';
import { KafkaTopics } from './kafka-topics.ts';
import { Network } from './network.ts';
import { ChannelTopics } from './notification-channel.ts';
import { Observability } from './observability.ts';
import { OrderApi } from './order-api.ts';
import { PipelineFunctions } from './pipeline-functions.ts';
import { pascalCase, Tables } from './tables.ts';

export interface OrderPipelineStackProps extends StackProps {
  config: PipelineConfig;
}

/**
 * The whole pipeline on AWS, built from topology/manifest.ts: network, MSK, topics, tables, one
 * function per step with its event source mapping, the API, and the dashboard and alarms.
 */
export class OrderPipelineStack extends Stack {
  readonly network: Network;
  readonly cluster: KafkaCluster;
  readonly topics: KafkaTopics;
  readonly tables: Tables;
  readonly functions: PipelineFunctions;
  readonly channels: ChannelTopics;
  readonly api: OrderApi;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: OrderPipelineStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.network = new Network(this, 'Network', { vpcId: config.vpcId });
    this.cluster = new KafkaCluster(this, 'Kafka', { network: this.network, config });
    this.topics = new KafkaTopics(this, 'Topics', {
      cluster: this.cluster,
      ...(this.cluster.isNew ? { kafkaVersion: config.kafkaVersion } : {}),
      destroyData: config.destroyData,
    });
    this.tables = new Tables(this, 'Tables', { destroyData: config.destroyData });
    new InventorySeed(this, 'InventorySeed', { table: this.tables.byName.inventory });
    this.functions = new PipelineFunctions(this, 'Functions', {
      network: this.network,
      cluster: this.cluster,
      tables: this.tables.byName,
      // Every function and mapping after every topic: they produce to several, and poll their trigger's.
      topicsReady: this.topics,
      mappings: config,
    });

    const http = this.functions.all.find((f) => f.spec.trigger.kind === 'http');
    if (!http) throw new Error('the manifest declares no HTTP function');
    this.api = new OrderApi(this, 'OrderApi', {
      handler: http.fn,
      rateLimit: config.apiRateLimit,
      burstLimit: config.apiBurstLimit,
    });
    this.observability = new Observability(this, 'Observability', {
      functions: this.functions.all,
      api: this.api.api,
      alarmEmail: config.alarmEmail,
    });

    // The customer channel: the notification step publishes each message to its SNS topic.
    this.channels = new ChannelTopics(this, 'Channels', { network: this.network });
    this.channels.connect(this.functions.all);

    new CfnOutput(this, 'ApiUrl', { value: this.api.api.url, description: 'Base URL of the order API' });
    new CfnOutput(this, 'ApiClientPolicyArn', {
      value: this.api.clientPolicy.managedPolicyArn,
      description: 'Attach to the role or user that calls the API (SigV4)',
    });
    new CfnOutput(this, 'MskClusterArn', { value: this.cluster.clusterArn });
    new CfnOutput(this, 'BootstrapBrokers', { value: this.cluster.bootstrapBrokers });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.alarmTopic.topicArn });
    for (const [name, { topic }] of Object.entries(this.channels.byName)) {
      new CfnOutput(this, `${pascalCase(name)}TopicArn`, {
        value: topic.topicArn,
        description: `Subscribe here to receive the ${name} (filter on the kind and customerId attributes)`,
      });
    }
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    for (const [name, table] of Object.entries(this.tables.byName)) {
      new CfnOutput(this, `Table${pascalCase(name)}`, { value: table.tableName });
    }
  }
}
