import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { type ChannelName, channelEnvVar, channelNames, manifest } from '../../topology/manifest.ts';
import type { ChannelSpec } from '../../topology/types.ts';
import type { Network } from './network.ts';
import type { PipelineFunction } from './pipeline-functions.ts';
import { pascalCase } from './tables.ts';

export interface ChannelTopic {
  topic: sns.Topic;
  key: kms.Key;
}

/**
 * The manifest's channels: one standard SNS topic each, encrypted with a customer managed key of its own
 * (rotated yearly). A standard topic, not FIFO: FIFO topics deliver to SQS only (no e-mail) and
 * deduplicate for five minutes, while the notification step's Powertools idempotency deduplicates each
 * send for 15 days; every message carries its `notificationId` for the subscriber that must drop the rare
 * duplicate SNS itself delivers.
 *
 * The functions live in isolated subnets: a new VPC gets an SNS interface endpoint (private DNS, reachable
 * from the publishers' security group only, its policy limited to publishing to these topics). An existing
 * VPC must reach SNS itself (NAT or an endpoint of its own).
 */
export class ChannelTopics extends Construct {
  readonly byName: Record<ChannelName, ChannelTopic>;
  readonly endpoint?: ec2.InterfaceVpcEndpoint;

  constructor(scope: Construct, id: string, props: { network: Network }) {
    super(scope, id);
    this.byName = Object.fromEntries(
      channelNames.map((name) => {
        const spec: ChannelSpec = manifest.channels[name];
        const key = new kms.Key(this, `${pascalCase(name)}Key`, {
          description: `Encrypts the ${name} SNS topic of the order pipeline`,
          enableKeyRotation: true,
        });
        const topic = new sns.Topic(this, pascalCase(name), {
          displayName: spec.displayName,
          masterKey: key,
          enforceSSL: true,
        });
        return [name, { topic, key }];
      }),
    ) as Record<ChannelName, ChannelTopic>;

    if (props.network.isNew) {
      // The endpoint only answers: its group has no egress rule (CDK writes the deny-all placeholder),
      // where the group CDK would create keeps EC2's allow-all egress. Ingress comes from connect().
      const securityGroup = new ec2.SecurityGroup(this, 'SnsEndpointSecurityGroup', {
        vpc: props.network.vpc,
        description: 'SNS interface endpoint: HTTPS from the publishing functions only, no egress',
        allowAllOutbound: false,
      });
      this.endpoint = new ec2.InterfaceVpcEndpoint(this, 'SnsEndpoint', {
        vpc: props.network.vpc,
        service: ec2.InterfaceVpcEndpointAwsService.SNS,
        subnets: props.network.subnets,
        privateDnsEnabled: true,
        open: false,
        securityGroups: [securityGroup],
      });
      this.endpoint.addToPolicy(
        new iam.PolicyStatement({
          sid: 'PublishToTheChannelsOnly',
          principals: [new iam.AnyPrincipal()],
          actions: ['sns:Publish'],
          resources: Object.values(this.byName).map(({ topic }) => topic.topicArn),
          conditions: { StringEquals: { 'aws:PrincipalAccount': Stack.of(this).account } },
        }),
      );
    }
  }

  /**
   * Hands each function the ARN of every channel it publishes to (`<CHANNEL>_TOPIC_ARN`), and lets it
   * publish there and nowhere else: `sns:Publish` on the topic, the topic's key only through SNS
   * (`kms:ViaService`), the endpoint from its security group.
   */
  connect(functions: readonly PipelineFunction[]): void {
    const { region } = Stack.of(this);
    for (const { name: fnName, spec, fn } of functions) {
      const role = fn.role;
      if (!role) throw new Error(`function ${fn.node.path} has no role to grant its channels to`);
      for (const name of (spec.publishes ?? []) as ChannelName[]) {
        const channel = this.byName[name];
        if (!channel) throw new Error(`function ${fn.node.path} publishes to unknown channel ${name}`);
        const id = pascalCase(name);
        fn.addEnvironment(channelEnvVar(name), channel.topic.topicArn);
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: `Publish${id}`,
            actions: ['sns:Publish'],
            resources: [channel.topic.topicArn],
          }),
        );
        // SNS encrypts each message with a data key it asks KMS for in the publisher's name: GenerateDataKey
        // exactly (what SNS calls, not the whole GenerateDataKey* family) and Decrypt, through SNS only.
        const useThroughSns = {
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          conditions: { StringEquals: { 'kms:ViaService': `sns.${region}.amazonaws.com` } },
        };
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({ sid: `Encrypt${id}`, resources: [channel.key.keyArn], ...useThroughSns }),
        );
        // The key's policy says the same for this role, so the grant does not rest on IAM alone.
        channel.key.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: `${pascalCase(fnName)}PublishesThroughSns`,
            principals: [role],
            resources: ['*'],
            ...useThroughSns,
          }),
        );
        this.endpoint?.connections.allowDefaultPortFrom(fn, `${fnName} publishes to the ${name} topic`);
      }
    }
  }
}
