import { Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as msk from 'aws-cdk-lib/aws-msk';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { PipelineConfig } from './config.ts';
import { acceptFinding } from './nag.ts';
import type { Network } from './network.ts';

/** Port of the brokers' TLS + SASL/IAM listener inside the VPC. */
export const KAFKA_IAM_PORT = 9098;

export interface KafkaClusterProps {
  network: Network;
  config: PipelineConfig;
}

/**
 * The MSK cluster: a new provisioned one (IAM auth, TLS in transit and in the cluster, encrypted at rest,
 * broker logs), or an existing one named by context. Either way it exposes the ARNs that IAM policies
 * scope to and the SASL/IAM bootstrap brokers, resolved once at deploy time.
 */
export class KafkaCluster extends Construct {
  readonly clusterArn: string;
  readonly securityGroup: ec2.ISecurityGroup;
  /** Comma-separated SASL/IAM bootstrap brokers (a deploy-time token). */
  readonly bootstrapBrokers: string;
  readonly isNew: boolean;
  private readonly network: Network;

  constructor(scope: Construct, id: string, props: KafkaClusterProps) {
    super(scope, id);
    const { network, config } = props;
    this.network = network;

    if (config.mskClusterArn && config.mskSecurityGroupId) {
      this.isNew = false;
      this.clusterArn = config.mskClusterArn;
      // Mutable: the stack adds ingress rules for its own clients (removed again with the stack).
      this.securityGroup = ec2.SecurityGroup.fromSecurityGroupId(
        this,
        'ClusterSecurityGroup',
        config.mskSecurityGroupId,
        { allowAllOutbound: false, mutable: true },
      );
    } else {
      this.isNew = true;
      const securityGroup = new ec2.SecurityGroup(this, 'ClusterSecurityGroup', {
        vpc: network.vpc,
        allowAllOutbound: false,
        description: 'MSK brokers; also used by the Lambda event source mapping pollers',
      });
      // The event source mapping pollers run with the cluster's security group in its subnets.
      securityGroup.addIngressRule(securityGroup, ec2.Port.tcp(KAFKA_IAM_PORT), 'ESM pollers to brokers');
      securityGroup.addEgressRule(securityGroup, ec2.Port.tcp(KAFKA_IAM_PORT), 'ESM pollers to brokers');
      this.securityGroup = securityGroup;

      const brokerLogs = new logs.LogGroup(this, 'BrokerLogs', {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const subnets = network.vpc.selectSubnets(network.subnets).subnetIds;
      const cluster = new msk.CfnCluster(this, 'Cluster', {
        clusterName: `${Stack.of(this).stackName}-kafka`,
        kafkaVersion: config.kafkaVersion,
        // One broker per AZ; MSK then defaults topics to replication factor 2, min.insync.replicas 1.
        numberOfBrokerNodes: 2,
        brokerNodeGroupInfo: {
          instanceType: config.brokerInstanceType,
          clientSubnets: subnets,
          securityGroups: [securityGroup.securityGroupId],
          storageInfo: { ebsStorageInfo: { volumeSize: config.brokerVolumeGiB } },
        },
        clientAuthentication: {
          sasl: { iam: { enabled: true } },
          unauthenticated: { enabled: false },
        },
        // At rest: MSK encrypts with the AWS managed key when no key is given.
        encryptionInfo: { encryptionInTransit: { clientBroker: 'TLS', inCluster: true } },
        loggingInfo: {
          brokerLogs: { cloudWatchLogs: { enabled: true, logGroup: brokerLogs.logGroupName } },
        },
        enhancedMonitoring: 'DEFAULT',
      });
      this.clusterArn = cluster.attrArn;
    }

    // The brokers' addresses, read once through the MSK API by CloudFormation (outside the VPC), so the
    // functions need neither the MSK API nor a route to it.
    const brokers = new cr.AwsCustomResource(this, 'BootstrapBrokers', {
      onUpdate: {
        service: 'Kafka',
        action: 'GetBootstrapBrokers',
        parameters: { ClusterArn: this.clusterArn },
        physicalResourceId: cr.PhysicalResourceId.of(this.clusterArn),
        outputPaths: ['BootstrapBrokerStringSaslIam'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['kafka:GetBootstrapBrokers'], resources: [this.clusterArn] }),
      ]),
      installLatestAwsSdk: false,
    });
    this.bootstrapBrokers = brokers.getResponseField('BootstrapBrokerStringSaslIam');
    // AwsCustomResource runs one singleton function per stack, created beside the stack's constructs.
    const singleton = Stack.of(this).node.tryFindChild(
      `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`,
    );
    if (singleton) {
      acceptFinding(
        singleton,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "CDK's AwsCustomResource function only writes its own logs; its MSK permission is scoped to the cluster",
      );
    }
  }

  /** `arn:…:cluster/<name>/<uuid>` → `arn:…:<kind>/<name>/<uuid>/<resource>` (MSK IAM resource ARNs). */
  private childArn(kind: 'topic' | 'group', name: string): string {
    const [prefix, nameAndUuid] = [0, 1].map((i) => Fn.select(i, Fn.split(':cluster/', this.clusterArn)));
    return `${prefix}:${kind}/${nameAndUuid}/${name}`;
  }

  topicArn(topic: string): string {
    return this.childArn('topic', topic);
  }

  groupArn(groupId: string): string {
    return this.childArn('group', groupId);
  }

  /**
   * A security group for Kafka clients: egress to the brokers only (plus HTTPS when asked, which in the
   * new VPC can only reach DynamoDB's gateway endpoint), and ingress for it on the cluster's group.
   */
  clientSecurityGroup(scope: Construct, id: string, options: { description: string; https: boolean }) {
    const group = new ec2.SecurityGroup(scope, id, {
      vpc: this.network.vpc,
      allowAllOutbound: false,
      description: options.description,
    });
    group.addEgressRule(this.securityGroup, ec2.Port.tcp(KAFKA_IAM_PORT), 'Kafka brokers (TLS + IAM)');
    this.securityGroup.addIngressRule(group, ec2.Port.tcp(KAFKA_IAM_PORT), options.description);
    if (options.https) {
      group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs: DynamoDB (gateway endpoint)');
    }
    return group;
  }
}
