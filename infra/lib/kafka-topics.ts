import { type CfnResource, CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { manifest } from '../../topology/manifest.ts';
import { desiredTopics, type KafkaTopicsProperties } from '../custom-resources/kafka-topics/contract.ts';
import { fromProjectRoot, functionDefaults } from './bundling.ts';
import type { KafkaCluster } from './kafka-cluster.ts';
import { vpcLambdaRole } from './lambda-role.ts';
import { acceptFinding, acceptVpcFunctionRoleFindings } from './nag.ts';
import type { Network } from './network.ts';

export interface KafkaTopicsProps {
  network: Network;
  cluster: KafkaCluster;
  /** Delete the topics on stack delete (and topics dropped from the manifest on update). */
  deleteTopicsOnRemoval: boolean;
}

/**
 * The manifest's topics, created through the Kafka admin API by a function in the VPC (Provider
 * framework). Updates grow partitions and set changed configs; data is never deleted unless asked.
 */
export class KafkaTopics extends Construct {
  readonly resource: CustomResource;
  readonly handler: NodejsFunction;

  constructor(scope: Construct, id: string, props: KafkaTopicsProps) {
    super(scope, id);
    const { network, cluster } = props;
    const topics = desiredTopics(manifest.topics);

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = vpcLambdaRole(this, 'Role', { description: 'Kafka topics custom resource', logGroup });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KafkaConnect',
        actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeCluster'],
        resources: [cluster.clusterArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'KafkaManageTopics',
        actions: [
          'kafka-cluster:CreateTopic',
          'kafka-cluster:DescribeTopic',
          'kafka-cluster:AlterTopic',
          'kafka-cluster:DescribeTopicDynamicConfiguration',
          'kafka-cluster:AlterTopicDynamicConfiguration',
          ...(props.deleteTopicsOnRemoval ? ['kafka-cluster:DeleteTopic'] : []),
        ],
        resources: topics.map((t) => cluster.topicArn(t.name)),
      }),
    );

    const securityGroup = cluster.clientSecurityGroup(this, 'SecurityGroup', {
      description: 'Kafka topics custom resource',
      https: false,
    });
    this.handler = new NodejsFunction(this, 'Handler', {
      ...functionDefaults,
      entry: fromProjectRoot('infra/custom-resources/kafka-topics/handler.ts'),
      description: 'Creates and updates the Kafka topics of the topology manifest',
      memorySize: 256,
      timeout: Duration.minutes(5),
      role,
      logGroup,
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      securityGroups: [securityGroup],
    });

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });

    const properties: KafkaTopicsProperties = {
      BootstrapBrokers: cluster.bootstrapBrokers,
      ReplicationFactor: -1,
      DeleteTopicsOnRemoval: props.deleteTopicsOnRemoval,
      Topics: topics,
    };
    acceptVpcFunctionRoleFindings(this);
    acceptFinding(
      provider,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "CDK's Provider framework function only writes its own logs; the managed policy is the framework's",
    );
    acceptFinding(
      provider,
      `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.handler.node.defaultChild as CfnResource)}.Arn>:*]`,
      'The Provider framework may invoke any version of exactly this handler function',
    );
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::KafkaTopics',
      properties,
    });
    // The function only references its security group: its rules (egress here, ingress on the cluster's
    // group) are separate resources that must exist before the first call, or the brokers are unreachable.
    this.resource.node.addDependency(securityGroup, cluster.securityGroup);
  }
}
