import { RemovalPolicy } from 'aws-cdk-lib';
import * as msk from 'aws-cdk-lib/aws-msk';
import { Construct } from 'constructs';
import type { TopicName } from '../../events/topics.ts';
import { type TopicSettings, topicSettings } from '../../topology/topics.ts';
import type { KafkaCluster } from './kafka-cluster.ts';

export interface KafkaTopicsProps {
  readonly cluster: KafkaCluster;
  /**
   * The new cluster's Kafka version (`-c kafkaVersion`); MSK's topic API needs 3.6 or later.
   * @default unchecked (an existing cluster's version is not known at synth time)
   */
  readonly kafkaVersion?: string;
  /**
   * Delete the topics, with their records, when the stack is deleted or a topic leaves the manifest.
   * @default false: topics are retained on delete and on replacement
   */
  readonly destroyData?: boolean;
}

/** MSK's topic API (and so `AWS::MSK::Topic`) needs Kafka 3.6.0 or later on the cluster. */
export const MIN_TOPIC_API_KAFKA_VERSION = [3, 6] as const;

/** Throws unless `version` (an MSK version: `3.9.x`, `3.6.0`, `4.0.x.kraft`) is one the topic API serves. */
export function assertTopicApiVersion(version: string): void {
  const match = /^(\d+)\.(\d+)/.exec(version);
  const [major, minor] = MIN_TOPIC_API_KAFKA_VERSION;
  const supported =
    match !== null && (Number(match[1]) > major || (Number(match[1]) === major && Number(match[2]) >= minor));
  if (!supported) {
    throw new Error(
      `kafkaVersion ${version}: the topics are AWS::MSK::Topic resources, which need Kafka ${major}.${minor} or later (MSK's topic API); choose e.g. -c kafkaVersion=3.9.x`,
    );
  }
}

/** `retention.ms` and the like, as AWS::MSK::Topic takes them: a JSON object of strings, base64. */
export const encodeTopicConfigs = (configs: TopicSettings['configs']): string =>
  Buffer.from(JSON.stringify(configs)).toString('base64');

/**
 * Replicas per partition: three, so that one AZ (one broker) may go without losing a write acknowledged by
 * all in-sync replicas; never more than the new cluster has brokers. An existing cluster is assumed to
 * have at least three (MSK's own default on a three-AZ cluster).
 */
function replicationFactor(cluster: KafkaCluster): number {
  const cfn = cluster.node.tryFindChild('Cluster');
  return cfn instanceof msk.CfnCluster ? Math.min(3, cfn.numberOfBrokerNodes) : 3;
}

/**
 * The manifest's topics as native `AWS::MSK::Topic` resources: CloudFormation creates and updates them
 * through MSK's topic API (MSK Provisioned, Kafka 3.6+), with no function in the VPC and no route to the
 * brokers. Partitions and configs update in place; a new name or replication factor replaces the
 * resource, and the replaced (or deleted) topic is retained with its records unless `destroyData`.
 */
export class KafkaTopics extends Construct {
  readonly byName: ReadonlyMap<TopicName, msk.CfnTopic>;

  constructor(scope: Construct, id: string, props: KafkaTopicsProps) {
    super(scope, id);
    if (props.kafkaVersion !== undefined) assertTopicApiVersion(props.kafkaVersion);
    const replicas = replicationFactor(props.cluster);
    const removal = props.destroyData ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    this.byName = new Map(
      topicSettings().map((settings) => {
        const topic = new msk.CfnTopic(this, settings.name, {
          clusterArn: props.cluster.clusterArn,
          topicName: settings.name,
          partitionCount: settings.partitions,
          replicationFactor: replicas,
          configs: encodeTopicConfigs(settings.configs),
        });
        // Both DeletionPolicy and UpdateReplacePolicy: a replacement must not delete the old topic's data.
        topic.applyRemovalPolicy(removal);
        return [settings.name, topic];
      }),
    );
  }
}
