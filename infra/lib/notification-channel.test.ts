import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  channelEnvVar,
  type FunctionName,
  functionNames,
  manifest,
  publishedChannels,
} from '../../topology/manifest.ts';
import {
  asArray,
  cfnLint,
  nagFindings,
  type PolicyStatement,
  type Synthesized,
  synthesize,
  type TemplateResource,
  templateReader,
} from '../test/synth.ts';

type Json = unknown;

let synth: Synthesized;

const { resources, resourceOf, ofType, logicalId, fnOf, statementsOf } = templateReader(() => synth);
const propsOf = (construct: IConstruct) => resourceOf(construct).Properties;
const channel = () => synth.stack.channels.byName.notifications;
const topicRef = () => ({ Ref: logicalId(channel().topic) });
const keyArn = () => ({ 'Fn::GetAtt': [logicalId(channel().key), 'Arn'] });
const viaSns = {
  StringEquals: {
    'kms:ViaService': { 'Fn::Join': ['', ['sns.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
  },
};
const roleOf = (name: FunctionName) => {
  const role = fnOf(name).fn.role;
  if (!role) throw new Error(`${name} has no role`);
  return logicalId(role);
};
const publishers = functionNames.filter((name) => publishedChannels(name).length > 0);

beforeAll(() => {
  // The channel's wiring does not depend on the bundles' contents: no bundling, a quick synth.
  synth = synthesize({ bundle: false });
}, 120_000);

afterAll(() => synth?.cleanup());

describe('the notifications channel on AWS', () => {
  it('is a standard SNS topic encrypted with its own rotated customer managed key, SSL only', () => {
    const [topic] = ofType('AWS::SNS::Topic').filter(([id]) => id === logicalId(channel().topic));
    expect(topic?.[1].Properties).toMatchObject({
      DisplayName: manifest.channels.notifications.displayName,
      KmsMasterKeyId: keyArn(),
    });
    expect(topic?.[1].Properties).not.toHaveProperty('FifoTopic');
    expect(propsOf(channel().key)).toMatchObject({ EnableKeyRotation: true });
    // Not the alarm topic's key: one key per topic.
    expect(logicalId(channel().key)).not.toBe(
      synth.stack.getLogicalId(synth.stack.observability.alarmTopic.node.defaultChild as CfnElement),
    );
    const policies = ofType('AWS::SNS::TopicPolicy').filter(([, p]) =>
      (p.Properties.Topics as Json[]).some((t) => JSON.stringify(t) === JSON.stringify(topicRef())),
    );
    expect(policies).toHaveLength(1);
    const [, policy] = policies[0] as [string, TemplateResource];
    expect((policy.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    ]);
  });

  it("lets the key be used by the publisher only through SNS, in the key's policy too", () => {
    const statements = (propsOf(channel().key).KeyPolicy as { Statement: PolicyStatement[] }).Statement;
    const forPublishers = statements.filter((s) => s.Sid?.endsWith('PublishesThroughSns'));
    expect(forPublishers).toEqual(
      publishers.map((name) => ({
        Sid: expect.any(String),
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::GetAtt': [roleOf(name), 'Arn'] } },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
        Condition: viaSns,
      })),
    );
  });

  it('hands the notification function the topic ARN, the only function that gets one', () => {
    expect(publishers).toEqual(['notification']);
    for (const name of functionNames) {
      const env = (propsOf(fnOf(name).fn).Environment as { Variables: Record<string, Json> }).Variables;
      if (name === 'notification') expect(env[channelEnvVar('notifications')]).toEqual(topicRef());
      else expect(env).not.toHaveProperty(channelEnvVar('notifications'));
      // SNS is the default; nothing on AWS switches it to the log line.
      expect(env).not.toHaveProperty('NOTIFICATION_CHANNEL');
    }
  });

  it('grants sns:Publish on that topic and the key (through SNS) to the notification role only', () => {
    for (const name of functionNames) {
      const statements = statementsOf(roleOf(name));
      const sns = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('sns:')));
      const kms = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('kms:')));
      if (name !== 'notification') {
        expect([...sns, ...kms], name).toEqual([]);
        continue;
      }
      expect(sns).toEqual([
        { Sid: 'PublishNotifications', Effect: 'Allow', Action: 'sns:Publish', Resource: topicRef() },
      ]);
      expect(kms).toEqual([
        {
          Sid: 'EncryptNotifications',
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: keyArn(),
          Condition: viaSns,
        },
      ]);
    }
    // No other role of the stack (topics handler, custom resources, API logging) may publish to it.
    const publishing = ofType('AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify(p.Properties.PolicyDocument).includes(JSON.stringify(topicRef())),
    );
    expect(publishing.map(([, p]) => p.Properties.Roles)).toEqual([[{ Ref: roleOf('notification') }]]);
  });

  it('reaches SNS from the isolated subnets through an interface endpoint open to the publisher only', () => {
    const endpoints = ofType('AWS::EC2::VPCEndpoint').filter(
      ([, e]) => e.Properties.VpcEndpointType === 'Interface',
    );
    expect(endpoints).toHaveLength(1);
    const [, endpoint] = endpoints[0] as [string, TemplateResource];
    expect(endpoint.Properties).toMatchObject({
      PrivateDnsEnabled: true,
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.sns']] },
    });
    expect((endpoint.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement).toEqual([
      {
        Sid: 'PublishToTheChannelsOnly',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'sns:Publish',
        Resource: topicRef(),
        Condition: { StringEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
    const group = synth.stack.channels.endpoint?.connections.securityGroups[0];
    if (!group) throw new Error('no endpoint security group');
    const endpointGroup = logicalId(group);
    const ingress = ofType('AWS::EC2::SecurityGroupIngress').filter(
      ([, rule]) =>
        JSON.stringify(rule.Properties.GroupId) ===
        JSON.stringify({ 'Fn::GetAtt': [endpointGroup, 'GroupId'] }),
    );
    const fnGroups = (propsOf(fnOf('notification').fn).VpcConfig as { SecurityGroupIds: Json[] })
      .SecurityGroupIds;
    expect(ingress.map(([, rule]) => rule.Properties)).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: fnGroups[0],
      }),
    ]);
    const inline = (resources()[endpointGroup]?.Properties.SecurityGroupIngress as Json[] | undefined) ?? [];
    expect(inline).toEqual([]);
    // Explicit egress, like the function and cluster groups: none (CDK's deny-all placeholder), never EC2's allow-all.
    expect(resources()[endpointGroup]?.Properties.SecurityGroupEgress).toEqual([
      expect.objectContaining({
        CidrIp: '255.255.255.255/32',
        IpProtocol: 'icmp',
        FromPort: 252,
        ToPort: 86,
      }),
    ]);
    const separateEgress = ofType('AWS::EC2::SecurityGroupEgress').filter(
      ([, rule]) =>
        JSON.stringify(rule.Properties.GroupId) ===
        JSON.stringify({ 'Fn::GetAtt': [endpointGroup, 'GroupId'] }),
    );
    expect(separateEgress).toEqual([]);
  });

  it('outputs the topic ARN for subscribers', () => {
    expect(synth.template.toJSON().Outputs.NotificationsTopicArn).toMatchObject({ Value: topicRef() });
  });

  it('adds no unacknowledged cdk-nag finding and no cfn-lint finding', async () => {
    expect(nagFindings(synth)).toEqual([]);
    const result = await cfnLint(synth.template.toJSON(), synth.stack.stackName);
    expect(result.output).toBe('');
    expect(result.exitCode).toBe(0);
  }, 180_000);
});
