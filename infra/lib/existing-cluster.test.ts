import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerGroupId, functionNames, manifest, tableNames } from '../../topology/manifest.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import {
  cfnLint,
  nagFindings,
  type Synthesized,
  synthesize,
  type TemplateResource,
  templateResources,
} from '../test/synth.ts';

/**
 * The other deployment shape: an existing VPC and MSK cluster named by context, and `destroyData`.
 * Bundling is skipped (the code is the main synth's); the VPC lookup is answered from context.
 */
const account = '123456789012';
const region = 'eu-west-1';
const clusterArn = `arn:aws:kafka:${region}:${account}:cluster/shared-kafka/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7`;
const vpcId = 'vpc-0abc1234';
const subnets = [
  {
    subnetId: 'subnet-0aaa1111',
    cidr: '10.20.0.0/20',
    availabilityZone: `${region}a`,
    routeTableId: 'rtb-0aaa1111',
  },
  {
    subnetId: 'subnet-0bbb2222',
    cidr: '10.20.16.0/20',
    availabilityZone: `${region}b`,
    routeTableId: 'rtb-0bbb2222',
  },
];
const context = {
  // What `cdk synth` caches in cdk.context.json after looking the VPC up (here: two private subnets).
  [`vpc-provider:account=${account}:filter.vpc-id=${vpcId}:region=${region}:returnAsymmetricSubnets=true`]: {
    vpcId,
    vpcCidrBlock: '10.20.0.0/16',
    ownerAccountId: account,
    availabilityZones: [],
    subnetGroups: [{ name: 'Private', type: 'Private', subnets }],
  },
  vpcId,
  mskClusterArn: clusterArn,
  mskSecurityGroupId: 'sg-0def5678',
  destroyData: 'true',
  alarmEmail: 'oncall@example.com',
  // The mappings' deployment settings, as `-c` passes them.
  batchingWindowSeconds: '2',
  minimumPollers: '2',
  maximumPollers: '3',
};

let synth: Synthesized;
let resources: Record<string, TemplateResource>;
const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);
const policyText = () => JSON.stringify(ofType('AWS::IAM::Policy').map((p) => p.Properties));

beforeAll(() => {
  synth = synthesize({ context, env: { account, region }, bundle: false });
  resources = templateResources(synth);
}, 120_000);

afterAll(() => synth?.cleanup());

describe('existing VPC and MSK cluster', () => {
  it("gives every mapping the context's batching window and poller bounds instead of the manifest's", () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings.length).toBeGreaterThan(0);
    for (const mapping of mappings) {
      expect(mapping.Properties).toMatchObject({
        MaximumBatchingWindowInSeconds: 2,
        ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 3 },
      });
    }
  });

  it('creates neither a VPC nor a cluster, and maps every consumer to the given cluster', () => {
    synth.template.resourceCountIs('AWS::EC2::VPC', 0);
    synth.template.resourceCountIs('AWS::MSK::Cluster', 0);
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(
      functionNames.filter((n) => manifest.functions[n].trigger.kind === 'kafka').length,
    );
    for (const mapping of mappings) expect(mapping.Properties.EventSourceArn).toBe(clusterArn);
    for (const fn of ofType('AWS::Lambda::Function').filter((f) =>
      JSON.stringify(f.Properties).includes(RuntimeEnv.serviceName),
    )) {
      expect(
        (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables[
          RuntimeEnv.mskClusterArn
        ],
      ).toBe(clusterArn);
    }
  });

  it("puts the functions in the existing VPC's private subnets", () => {
    const functions = ofType('AWS::Lambda::Function').filter((f) => f.Properties.VpcConfig !== undefined);
    expect(functions.length).toBe(functionNames.length);
    for (const fn of functions) {
      expect((fn.Properties.VpcConfig as { SubnetIds: string[] }).SubnetIds).toEqual(
        subnets.map((s) => s.subnetId),
      );
    }
    synth.template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: vpcId });
  });

  it('derives the MSK IAM topic and group ARNs from the cluster ARN', () => {
    const text = policyText();
    const base = `arn:aws:kafka:${region}:${account}`;
    expect(text).toContain(
      `"${base}:topic/shared-kafka/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7/OrderReceived"`,
    );
    expect(text).toContain(
      `"${base}:group/shared-kafka/0a1b2c3d-4e5f-6789-abcd-ef0123456789-7/${consumerGroupId('inventory')}"`,
    );
  });

  it("opens the cluster's security group to the stack's Kafka clients on 9098 only", () => {
    const rules = ofType('AWS::EC2::SecurityGroupIngress').map((r) => r.Properties);
    // The functions' group: the only Kafka clients the stack puts in the VPC (topics need none).
    expect(rules).toHaveLength(1);
    for (const rule of rules) {
      expect(rule).toMatchObject({ GroupId: 'sg-0def5678', IpProtocol: 'tcp', FromPort: 9098, ToPort: 9098 });
      expect(rule.SourceSecurityGroupId).toBeDefined();
    }
  });

  it('declares the manifest topics on the given cluster, three replicas each', () => {
    const topics = ofType('AWS::MSK::Topic');
    expect(topics.map((t) => t.Properties.TopicName).sort()).toEqual(Object.keys(manifest.topics).sort());
    for (const topic of topics) {
      expect(topic.Properties).toMatchObject({ ClusterArn: clusterArn, ReplicationFactor: 3 });
    }
  });

  it('with destroyData, deletes tables and topics with the stack', () => {
    for (const table of ofType('AWS::DynamoDB::GlobalTable')) expect(table.DeletionPolicy).toBe('Delete');
    expect(ofType('AWS::DynamoDB::GlobalTable')).toHaveLength(tableNames.length);
    for (const topic of ofType('AWS::MSK::Topic')) {
      expect(topic.DeletionPolicy).toBe('Delete');
      expect(topic.UpdateReplacePolicy).toBe('Delete');
    }
  });

  it('subscribes the alarm email', () => {
    synth.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });

  it('has no unacknowledged cdk-nag finding and passes cfn-lint', async () => {
    expect(nagFindings(synth)).toEqual([]);
    const result = await cfnLint(synth.template.toJSON(), `${synth.stack.stackName}-existing`);
    expect(result.output).toBe('');
    expect(result.exitCode).toBe(0);
  }, 180_000);
});
