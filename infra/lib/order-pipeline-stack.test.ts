import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KpiName } from '../../events/schemas/events.ts';
import { ALL_STEPS_SERVICE } from '../../functions/kpis/metrics.ts';
import { catalog } from '../../functions/shared/catalog.ts';
import {
  consumerGroupId,
  type FunctionName,
  functionNames,
  manifest,
  type TableName,
  tableEnvVar,
  tableNames,
} from '../../topology/manifest.ts';
import { METRICS_NAMESPACE, RuntimeEnv } from '../../topology/runtime-env.ts';
import { topicSettings } from '../../topology/topics.ts';
import type { FunctionSpec, IndexSpec, KafkaTrigger, KeySpec } from '../../topology/types.ts';
import {
  asArray,
  cfnLint,
  loadBundle,
  nagFindings,
  type PolicyStatement,
  type Synthesized,
  synthesize,
  templateReader,
} from '../test/synth.ts';
import { bundling, fromProjectRoot } from './bundling.ts';
import { orderRequestJsonSchema } from './order-request-model.ts';

type Json = unknown;

let synth: Synthesized;

const { resources, resourceOf, ofType, logicalId, fnOf, statementsOf } = templateReader(() => synth);
const spec = (name: FunctionName): FunctionSpec => manifest.functions[name];
const kafkaTrigger = (name: FunctionName): KafkaTrigger | undefined => {
  const trigger = spec(name).trigger;
  return trigger.kind === 'kafka' ? trigger : undefined;
};
const consumers = functionNames.filter((name) => kafkaTrigger(name) !== undefined);
const clusterId = () => logicalId(synth.stack.node.findChild('Kafka').node.findChild('Cluster'));

const withAction = (statements: PolicyStatement[], action: string) =>
  statements.filter((s) => asArray(s.Action).includes(action));

/**
 * `{Fn::Join: ['', [<arn prefix>, ':topic/', <name/uuid>, '/OrderReceived']]}` → `topic:OrderReceived`,
 * after checking that both halves come from the cluster's own ARN.
 */
function childArn(arn: Json): string {
  const parts = (arn as { 'Fn::Join': [string, Json[]] })['Fn::Join'][1];
  const fromCluster = (part: Json, index: number) =>
    JSON.stringify(part) ===
    JSON.stringify({
      'Fn::Select': [index, { 'Fn::Split': [':cluster/', { 'Fn::GetAtt': [clusterId(), 'Arn'] }] }],
    });
  expect(fromCluster(parts[0], 0) && fromCluster(parts[2], 1), JSON.stringify(arn)).toBe(true);
  return `${String(parts[1]).slice(1, -1)}:${String(parts[3]).slice(1)}`;
}

const resourcesOf = (statements: PolicyStatement[]) => statements.flatMap((s) => asArray(s.Resource));
const dependsOn = (id: string) => resources()[id]?.DependsOn ?? [];

beforeAll(() => {
  // The handlers are written by another part of the project; without them there is nothing to bundle.
  for (const name of functionNames) {
    expect(existsSync(fromProjectRoot(spec(name).entry)), `${spec(name).entry} exists`).toBe(true);
  }
  synth = synthesize();
}, 300_000);

afterAll(() => synth?.cleanup());

describe('network and cluster', () => {
  it('creates a two-AZ VPC of isolated private subnets, no NAT, and a DynamoDB gateway endpoint', () => {
    synth.template.resourceCountIs('AWS::EC2::VPC', 1);
    synth.template.resourceCountIs('AWS::EC2::Subnet', 2);
    synth.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    synth.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    synth.template.hasResourceProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
    synth.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith(['.dynamodb'])] }),
    });
    synth.template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
  });

  it('creates an MSK cluster with IAM auth only and TLS everywhere', () => {
    synth.template.hasResourceProperties('AWS::MSK::Cluster', {
      NumberOfBrokerNodes: 2,
      BrokerNodeGroupInfo: Match.objectLike({ InstanceType: 'kafka.t3.small' }),
      ClientAuthentication: { Sasl: { Iam: { Enabled: true } }, Unauthenticated: { Enabled: false } },
      EncryptionInfo: { EncryptionInTransit: { ClientBroker: 'TLS', InCluster: true } },
      LoggingInfo: { BrokerLogs: { CloudWatchLogs: Match.objectLike({ Enabled: true }) } },
    });
  });

  it('opens the brokers (9098) only to the stack security groups, never to an address range', () => {
    const cluster = synth.stack.cluster.securityGroup;
    const all = ofType('AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
    for (const rule of all) expect(rule.CidrIp).toBeUndefined();
    // The other group with ingress: the SNS endpoint's, open on 443 to the publishers (notification-channel.test.ts).
    const endpointGroups = (synth.stack.channels.endpoint?.connections.securityGroups ?? []).map((g) =>
      JSON.stringify({ 'Fn::GetAtt': [logicalId(g), 'GroupId'] }),
    );
    const ingress = all.filter((rule) => !endpointGroups.includes(JSON.stringify(rule.GroupId)));
    const inline = ofType('AWS::EC2::SecurityGroup').flatMap(
      ([, r]) => (r.Properties.SecurityGroupIngress as Json[]) ?? [],
    );
    expect(inline).toEqual([]);
    expect(ingress.length).toBeGreaterThanOrEqual(2);
    for (const rule of ingress) {
      expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: 9098, ToPort: 9098 });
      expect(rule.CidrIp).toBeUndefined();
      expect(rule.GroupId).toEqual({ 'Fn::GetAtt': [logicalId(cluster), 'GroupId'] });
    }
  });

  it('creates the security group rules before anything connects to the brokers', () => {
    const rules = Object.entries(resources())
      .filter(
        ([, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress' || r.Type === 'AWS::EC2::SecurityGroupEgress',
      )
      .map(([id]) => id);
    for (const { name, fn, mapping } of synth.stack.functions.all) {
      const clusterRules = rules.filter((id) => id.startsWith('KafkaClusterSecurityGroup'));
      expect(dependsOn(logicalId(fn)), name).toEqual(expect.arrayContaining(clusterRules));
      if (mapping) expect(dependsOn(logicalId(mapping)), name).toEqual(expect.arrayContaining(clusterRules));
    }
  });

  it('resolves the SASL/IAM bootstrap brokers from the cluster at deploy time, with a scoped permission', () => {
    const [, call] = ofType('Custom::AWS')[0]!;
    const create = JSON.stringify(call.Properties.Create);
    for (const part of ['Kafka', 'GetBootstrapBrokers', 'BootstrapBrokerStringSaslIam', clusterId()]) {
      expect(create).toContain(part);
    }
    const [, policy] = ofType('AWS::IAM::Policy').find(
      ([, p]) =>
        JSON.stringify(p.Properties).includes('kafka:GetBootstrapBrokers') &&
        JSON.stringify(p.Properties).includes('BootstrapBrokers'),
    )!;
    expect((policy.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement).toEqual([
      expect.objectContaining({
        Action: 'kafka:GetBootstrapBrokers',
        Resource: { 'Fn::GetAtt': [clusterId(), 'Arn'] },
      }),
    ]);
  });
});

describe('topics', () => {
  const topicIds = () => new Map(ofType('AWS::MSK::Topic').map(([id, r]) => [r.Properties.TopicName, id]));

  it('declares every manifest topic as an AWS::MSK::Topic with its partitions and retention, three replicas or one per broker', () => {
    const topics = ofType('AWS::MSK::Topic').map(([, r]) => r.Properties);
    expect(topics.map((t) => t.TopicName).sort()).toEqual(Object.keys(manifest.topics).sort());
    for (const { name, partitions, configs } of topicSettings()) {
      const topic = topics.find((t) => t.TopicName === name)!;
      expect(topic, name).toMatchObject({
        ClusterArn: { 'Fn::GetAtt': [clusterId(), 'Arn'] },
        PartitionCount: partitions,
        ReplicationFactor: Math.min(3, resources()[clusterId()]!.Properties.NumberOfBrokerNodes as number),
      });
      const decoded: unknown = JSON.parse(Buffer.from(topic.Configs as string, 'base64').toString('utf8'));
      expect(decoded, name).toEqual({ 'retention.ms': configs['retention.ms'] });
    }
    // Spelled out once, independently of topicSettings: two weeks of dead letters.
    const dlq = topics.find((t) => t.TopicName === 'DeadLetterQueue')!;
    expect(Buffer.from(dlq.Configs as string, 'base64').toString('utf8')).toBe(
      '{"retention.ms":"1209600000"}',
    );
  });

  it('retains every topic, with its records, on stack delete and on replacement', () => {
    for (const [id, topic] of ofType('AWS::MSK::Topic')) {
      expect(topic.DeletionPolicy, id).toBe('Retain');
      expect(topic.UpdateReplacePolicy, id).toBe('Retain');
    }
  });

  it('starts each mapping after its trigger topic, and each function after the topics it produces to', () => {
    const ids = topicIds();
    for (const { name, spec: fnSpec, fn, mapping, trigger } of synth.stack.functions.all) {
      for (const topic of fnSpec.produces) expect(dependsOn(logicalId(fn)), name).toContain(ids.get(topic));
      if (!trigger) continue;
      expect(dependsOn(logicalId(mapping!)), name).toEqual(
        expect.arrayContaining([ids.get(trigger.topic), ids.get(trigger.onFailure)]),
      );
    }
  });

  it('has no custom resource nor function of its own: CloudFormation calls the MSK topic API', () => {
    expect(Object.values(resources()).filter((r) => r.Type.startsWith('Custom::KafkaTopics'))).toEqual([]);
    expect(JSON.stringify(ofType('AWS::IAM::Policy'))).not.toContain('kafka-cluster:CreateTopic');
  });
});

describe('tables', () => {
  it.each(tableNames)(
    '%s: keys, on-demand, PITR, AWS-managed encryption, TTL, retained',
    (name: TableName) => {
      const table = manifest.tables[name];
      const resource = resourceOf(synth.stack.tables.byName[name]);
      expect(resource.Type).toBe('AWS::DynamoDB::GlobalTable');
      expect(resource.DeletionPolicy).toBe('Retain');
      expect(resource.UpdateReplacePolicy).toBe('Retain');
      const keys = [table.partitionKey, ...('sortKey' in table ? [table.sortKey] : [])];
      const keySchema = (ks: KeySpec[]) =>
        ks.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? 'HASH' : 'RANGE' }));
      const indexes = Object.entries('indexes' in table ? (table.indexes as Record<string, IndexSpec>) : {});
      const indexKeys = indexes.flatMap(([, index]) => [
        index.partitionKey,
        ...(index.sortKey ? [index.sortKey] : []),
      ]);
      const attributes = [...new Map([...keys, ...indexKeys].map((k) => [k.name, k.type]))];
      expect(
        (resource.Properties.AttributeDefinitions as { AttributeName: string }[]).toSorted((a, b) =>
          a.AttributeName.localeCompare(b.AttributeName),
        ),
      ).toEqual(
        attributes
          .map(([name, type]) => ({ AttributeName: name, AttributeType: type }))
          .sort((a, b) => a.AttributeName.localeCompare(b.AttributeName)),
      );
      // The manifest's global secondary indexes, keyed and projected as declared (on-demand, no capacity).
      expect(resource.Properties.GlobalSecondaryIndexes).toEqual(
        indexes.length === 0
          ? undefined
          : indexes.map(([name, index]) => ({
              IndexName: name,
              KeySchema: keySchema([index.partitionKey, ...(index.sortKey ? [index.sortKey] : [])]),
              Projection: { ProjectionType: index.projection === 'all' ? 'ALL' : 'KEYS_ONLY' },
            })),
      );
      expect(resource.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: keySchema(keys),
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        Replicas: [
          expect.objectContaining({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
      });
      if ('ttlAttribute' in table) {
        expect(resource.Properties.TimeToLiveSpecification).toEqual({
          AttributeName: table.ttlAttribute,
          Enabled: true,
        });
      } else {
        expect(resource.Properties.TimeToLiveSpecification).toBeUndefined();
      }
    },
  );

  it('stocks the demo catalog into the inventory table once, on stack creation', () => {
    const [, seed] = ofType('Custom::AWS').find(([id]) => id.startsWith('InventorySeed'))!;
    expect(seed.Properties.Update).toBeUndefined();
    const create = JSON.stringify(seed.Properties.Create);
    expect(create).toContain('BatchWriteItem');
    expect(create).toContain(JSON.stringify({ Ref: logicalId(synth.stack.tables.byName.inventory) }));
    for (const entry of catalog) expect(create).toContain(`{\\"S\\":\\"${entry.sku}\\"}`);
    // The seeding statement (the functions' read-write grants include BatchWriteItem among others).
    const writes = ofType('AWS::IAM::Policy').flatMap(([, p]) =>
      (p.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement.filter(
        (statement) => statement.Action === 'dynamodb:BatchWriteItem',
      ),
    );
    expect(writes.flatMap((s) => asArray(s.Resource))).toEqual([
      { 'Fn::GetAtt': [logicalId(synth.stack.tables.byName.inventory), 'Arn'] },
    ]);
  });

  it('gives idempotency the TTL attribute Powertools expects', () => {
    expect(resourceOf(synth.stack.tables.byName.idempotency).Properties.TimeToLiveSpecification).toEqual({
      AttributeName: 'expiration',
      Enabled: true,
    });
  });
});

describe('functions', () => {
  it.each(functionNames)(
    '%s: Node.js 24 on arm64, traced, in the VPC, with the runtime environment',
    (name) => {
      const { fn } = fnOf(name);
      const resource = resourceOf(fn);
      const env = (resource.Properties.Environment as { Variables: Record<string, Json> }).Variables;
      expect(resource.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        MemorySize: spec(name).memoryMb,
        Timeout: spec(name).timeoutSeconds,
        Description: spec(name).description,
        VpcConfig: { SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) },
      });
      expect(env).toMatchObject({
        [RuntimeEnv.serviceName]: name,
        [RuntimeEnv.metricsNamespace]: METRICS_NAMESPACE,
        [RuntimeEnv.kafkaAuth]: 'iam',
        [RuntimeEnv.mskClusterArn]: { 'Fn::GetAtt': [clusterId(), 'Arn'] },
      });
      // The source map ships beside the bundle, not loaded at run time (infra/lib/bundling.ts).
      expect(env.NODE_OPTIONS).toBeUndefined();
      expect(JSON.stringify(env[RuntimeEnv.kafkaBrokers])).toContain('BootstrapBrokerStringSaslIam');
      expect(env[RuntimeEnv.dynamodbEndpoint]).toBeUndefined();
      // TABLE_<NAME> for exactly the manifest's tables of this function, each naming that table.
      const tables = Object.keys(spec(name).tables) as TableName[];
      const tableVars = Object.keys(env).filter((k) => k.startsWith('TABLE_'));
      expect(tableVars.sort()).toEqual(tables.map(tableEnvVar).sort());
      for (const table of tables) {
        expect(env[tableEnvVar(table)]).toEqual({ Ref: logicalId(synth.stack.tables.byName[table]) });
      }
    },
  );

  it('bundles each entry as minified ESM with a require shim and a source map, SDK clients external', () => {
    for (const fn of synth.stack.functions.all.map((f) => f.fn)) {
      const code = resourceOf(fn).Properties.Code as { S3Key: string };
      const bundle = join(synth.outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
      const source = readFileSync(join(bundle, 'index.mjs'), 'utf8');
      expect(source.startsWith(bundling.banner!), fn.node.path).toBe(true);
      expect(existsSync(join(bundle, 'index.mjs.map'))).toBe(true);
      // Minified: a few very long lines (template literals keep their own newlines).
      expect(source.length / source.split('\n').length).toBeGreaterThan(1000);
      // The runtime's SDK clients are loaded from the runtime, never bundled.
      expect(source).not.toContain('DynamoDB_20120810'); // a string inside @aws-sdk/client-dynamodb
    }
    const inventory = readFileSync(
      join(
        synth.outdir,
        `asset.${(resourceOf(fnOf('inventory').fn).Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`,
        'index.mjs',
      ),
      'utf8',
    );
    expect(inventory).toMatch(/from\s*"@aws-sdk\/client-dynamodb"/);
  });

  it('produces bundles that load on Node.js and export the handler', async () => {
    // What the module initialisation of the handlers reads; values are placeholders, nothing connects.
    const env = {
      AWS_REGION: 'eu-west-1',
      [RuntimeEnv.kafkaBrokers]: 'b-1.example:9098',
      [RuntimeEnv.kafkaAuth]: 'iam',
      [RuntimeEnv.mskClusterArn]:
        'arn:aws:kafka:eu-west-1:123456789012:cluster/c/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
      [RuntimeEnv.metricsNamespace]: METRICS_NAMESPACE,
      ...Object.fromEntries(tableNames.map((t) => [tableEnvVar(t), `table-${t}`])),
    };
    for (const fn of synth.stack.functions.all.map((f) => f.fn)) {
      const code = resourceOf(fn).Properties.Code as { S3Key: string };
      const bundle = join(synth.outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
      expect(await loadBundle(bundle, { ...env, [RuntimeEnv.serviceName]: fn.node.id }), fn.node.path).toBe(
        'function',
      );
    }
  }, 120_000);

  it('creates no other pipeline functions than the manifest declares', () => {
    expect(synth.stack.functions.all.map((f) => f.name)).toEqual(functionNames);
    const services = ofType('AWS::Lambda::Function')
      .map(
        ([, r]) =>
          (r.Properties.Environment as { Variables?: Record<string, Json> } | undefined)?.Variables?.[
            RuntimeEnv.serviceName
          ],
      )
      .filter(Boolean);
    expect(services.sort()).toEqual([...functionNames].sort());
  });
});

describe('event source mappings', () => {
  it('maps exactly the Kafka consumers of the manifest', () => {
    synth.template.resourceCountIs('AWS::Lambda::EventSourceMapping', consumers.length);
  });

  it.each(consumers)(
    '%s: the manifest settings, its consumer group, provisioned pollers, kafka:// DLQ',
    (name) => {
      const trigger = kafkaTrigger(name)!;
      const { fn, mapping } = fnOf(name);
      expect(resourceOf(mapping!).Properties).toEqual({
        FunctionName: { Ref: logicalId(fn) },
        EventSourceArn: { 'Fn::GetAtt': [clusterId(), 'Arn'] },
        Topics: [trigger.topic],
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: consumerGroupId(name) },
        BatchSize: trigger.batchSize,
        MaximumBatchingWindowInSeconds: trigger.maximumBatchingWindowSeconds,
        StartingPosition: trigger.startingPosition,
        MaximumRetryAttempts: trigger.retryAttempts,
        DestinationConfig: { OnFailure: { Destination: `kafka://${trigger.onFailure}` } },
        ProvisionedPollerConfig: {
          MinimumPollers: 1,
          MaximumPollers: manifest.topics[trigger.topic].partitions,
          PollerGroupName: `${synth.stack.stackName}-pollers`,
        },
        BisectBatchOnFunctionError: trigger.bisectBatchOnFunctionError,
        FunctionResponseTypes: trigger.reportBatchItemFailures ? ['ReportBatchItemFailures'] : undefined,
        MaximumRecordAgeInSeconds: trigger.maximumRecordAgeSeconds,
        MetricsConfig: { Metrics: [...trigger.metrics] },
        LoggingConfig: { SystemLogLevel: trigger.systemLogLevel },
        Tags: expect.any(Array),
      });
    },
  );

  // https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html: provisioned-mode controls.
  it('gives every Kafka mapping bisect, partial batch responses, a record age, metrics and poller logs', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings.length).toBeGreaterThan(0);
    for (const [id, { Properties: p }] of mappings) {
      const owner = consumers.find((name) => logicalId(fnOf(name).mapping!) === id);
      const trigger = kafkaTrigger(owner!)!;
      expect(p.ProvisionedPollerConfig, id).toBeDefined();
      expect(p.BisectBatchOnFunctionError, id).toBe(true);
      expect(p.FunctionResponseTypes, id).toEqual(['ReportBatchItemFailures']);
      const age = p.MaximumRecordAgeInSeconds as number;
      expect(age === -1 || (age >= 60 && age <= 604_800), `${id}: ${age}`).toBe(true);
      expect(age, id).toBe(trigger.maximumRecordAgeSeconds);
      expect(p.MetricsConfig, id).toEqual({ Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] });
      expect(p.LoggingConfig, id).toEqual({ SystemLogLevel: trigger.systemLogLevel });
      expect(['DEBUG', 'INFO', 'WARN'], id).toContain(trigger.systemLogLevel);
    }
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/esm-logging.html: the poller's system logs go to the
  // function's log destination, in a stream of their own, with the function's execution role.
  it.each(consumers)('%s: its role may create streams in and write to its own log group', (name) => {
    const { fn } = fnOf(name);
    const statements = statementsOf(logicalId(fn.role!));
    const logGroup = { 'Fn::GetAtt': [logicalId(fn.logGroup), 'Arn'] };
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      expect(resourcesOf(withAction(statements, action)), action).toContainEqual(logGroup);
    }
  });
});

describe('schedules', () => {
  const scheduled = functionNames.filter((name) => spec(name).trigger.kind === 'schedule');

  it('has a scheduled function: the outbox sweeper', () => {
    expect(scheduled).toEqual(['outbox-sweeper']);
    synth.template.resourceCountIs('AWS::Events::Rule', scheduled.length);
  });

  it.each(scheduled)('%s: an EventBridge rule at the manifest rate invokes it, and only it may', (name) => {
    const { fn, rule } = fnOf(name);
    const trigger = spec(name).trigger as { rateMinutes: number };
    const arn = { 'Fn::GetAtt': [logicalId(fn), 'Arn'] };
    expect(resourceOf(rule!).Properties).toMatchObject({
      ScheduleExpression: `rate(${trigger.rateMinutes} minute${trigger.rateMinutes === 1 ? '' : 's'})`,
      State: 'ENABLED',
      Targets: [
        expect.objectContaining({
          Arn: arn,
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: trigger.rateMinutes * 60 },
        }),
      ],
    });
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, p]) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(arn),
    );
    expect(permissions.map(([, p]) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: arn,
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [logicalId(rule!), 'Arn'] },
      },
    ]);
    // A failed run is not retried by Lambda: the next tick does the same work.
    synth.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(fn) },
      MaximumRetryAttempts: 0,
    });
    expect(fnOf(name).mapping).toBeUndefined();
  });
});

describe('least-privilege roles', () => {
  it.each(functionNames)('%s: Kafka rights on exactly its topics and group', (name) => {
    const { fn } = fnOf(name);
    const trigger = kafkaTrigger(name);
    const statements = statementsOf(logicalId(fn.role!));
    expect(resourceOf(fn.role!).Properties.ManagedPolicyArns).toBeUndefined();

    const cluster = { 'Fn::GetAtt': [clusterId(), 'Arn'] };
    expect(withAction(statements, 'kafka-cluster:Connect').flatMap((s) => asArray(s.Resource))).toEqual([
      cluster,
    ]);

    const writes = new Set([...spec(name).produces, ...(trigger ? [trigger.onFailure] : [])]);
    expect(resourcesOf(withAction(statements, 'kafka-cluster:WriteData')).map(childArn).sort()).toEqual(
      [...writes].map((t) => `topic:${t}`).sort(),
    );
    expect(resourcesOf(withAction(statements, 'kafka-cluster:ReadData')).map(childArn)).toEqual(
      trigger ? [`topic:${trigger.topic}`] : [],
    );
    expect(resourcesOf(withAction(statements, 'kafka-cluster:AlterGroup')).map(childArn)).toEqual(
      trigger ? [`group:${consumerGroupId(name)}`] : [],
    );
    expect(resourcesOf(withAction(statements, 'kafka:GetBootstrapBrokers'))).toEqual(
      trigger ? [cluster] : [],
    );
    // No Kafka right anywhere else, and no wildcard action.
    for (const statement of statements) {
      for (const action of asArray(statement.Action)) expect(action).not.toMatch(/\*/);
      if (asArray(statement.Action).some((a) => a.startsWith('kafka'))) {
        for (const resource of asArray(statement.Resource)) expect(resource).not.toBe('*');
      }
    }
  });

  it.each(functionNames)('%s: DynamoDB rights on exactly the tables the manifest lists', (name) => {
    const { fn } = fnOf(name);
    const statements = statementsOf(logicalId(fn.role!)).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('dynamodb:')),
    );
    // Each table's ARN, and for a table with indexes its own indexes (`<table ARN>/index/*`), nothing else.
    const expected = Object.keys(spec(name).tables).flatMap((table) => {
      const arn = { 'Fn::GetAtt': [logicalId(synth.stack.tables.byName[table as TableName]), 'Arn'] };
      return 'indexes' in manifest.tables[table as TableName]
        ? [arn, { 'Fn::Join': ['', [arn, '/index/*']] }]
        : [arn];
    });
    const granted = new Set(
      resourcesOf(statements)
        .map((r) => JSON.stringify(r))
        .filter((r) => r !== JSON.stringify({ Ref: 'AWS::NoValue' })),
    );
    expect([...granted].sort()).toEqual(expected.map((r) => JSON.stringify(r)).sort());
    for (const [table, access] of Object.entries(spec(name).tables)) {
      const arn = JSON.stringify({
        'Fn::GetAtt': [logicalId(synth.stack.tables.byName[table as TableName]), 'Arn'],
      });
      const actions = statements
        .filter((s) => asArray(s.Resource).some((r) => JSON.stringify(r) === arn))
        .flatMap((s) => asArray(s.Action));
      expect(actions).toContain('dynamodb:GetItem');
      if (access === 'readwrite')
        expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:UpdateItem']));
      else expect(actions).not.toContain('dynamodb:PutItem');
    }
  });

  it.each(functionNames)("%s: may write none of dlq:replay's claims in the idempotency table", (name) => {
    const statements = statementsOf(logicalId(fnOf(name).fn.role!));
    const denied = statements.filter((s) => s.Effect === 'Deny' && s.Sid === 'NoReplayClaims');
    if (spec(name).tables.idempotency !== 'readwrite') {
      expect(denied).toEqual([]);
      return;
    }
    expect(denied).toHaveLength(1);
    expect(asArray(denied[0]!.Action).sort()).toEqual(
      ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'].sort(),
    );
    expect(denied[0]).toMatchObject({
      Resource: { 'Fn::GetAtt': [logicalId(synth.stack.tables.byName.idempotency), 'Arn'] },
      Condition: {
        'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': ['dlq-replay#*', 'dlq-replay-copy#*'] },
      },
    });
  });
});

describe('API', () => {
  const method = (httpMethod: string, path: string) => {
    const resourceIds = ofType('AWS::ApiGateway::Resource').filter(
      ([, r]) => r.Properties.PathPart === path.split('/').pop(),
    );
    expect(resourceIds).toHaveLength(1);
    const found = ofType('AWS::ApiGateway::Method').filter(
      ([, m]) =>
        m.Properties.HttpMethod === httpMethod &&
        JSON.stringify(m.Properties.ResourceId) === JSON.stringify({ Ref: resourceIds[0]![0] }),
    );
    expect(found).toHaveLength(1);
    return found[0]![1].Properties;
  };

  it('leaves GET /health open and requires IAM (SigV4) on the order routes', () => {
    expect(method('GET', '/health').AuthorizationType).toBe('NONE');
    expect(method('POST', '/orders').AuthorizationType).toBe('AWS_IAM');
    expect(method('GET', '/orders/{id}').AuthorizationType).toBe('AWS_IAM');
    expect(method('POST', '/orders/{id}/cancel').AuthorizationType).toBe('AWS_IAM');
  });

  it('routes POST /orders/{id}/cancel with its path parameter required and the Idempotency-Key optional', () => {
    const cancel = method('POST', '/orders/{id}/cancel');
    expect(cancel.RequestValidatorId).toBeDefined();
    expect(cancel.RequestParameters).toEqual({
      'method.request.path.id': true,
      'method.request.header.Idempotency-Key': false,
    });
  });

  it('validates POST /orders against the model derived from the zod OrderRequest', () => {
    const post = method('POST', '/orders');
    expect(post.RequestValidatorId).toBeDefined();
    const [modelId, model] = ofType('AWS::ApiGateway::Model')[0]!;
    expect(post.RequestModels).toEqual({ 'application/json': { Ref: modelId } });
    expect(model.Properties.Schema).toEqual(orderRequestJsonSchema());
    synth.template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
    expect(method('GET', '/orders/{id}').RequestParameters).toEqual({ 'method.request.path.id': true });
  });

  it('throttles, traces and access-logs the stage, and outputs the URL', () => {
    synth.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        }),
      ]),
    });
    synth.template.hasOutput('ApiUrl', Match.anyValue());
    synth.template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: { Statement: [Match.objectLike({ Action: 'execute-api:Invoke' })] },
    });
  });
});

describe('dashboard and alarms', () => {
  /** The dashboard body with its intrinsic parts dropped: the JSON text CloudWatch receives. */
  const body = () =>
    (
      ofType('AWS::CloudWatch::Dashboard')[0]![1].Properties.DashboardBody as { 'Fn::Join': [string, Json[]] }
    )['Fn::Join'][1]
      .filter((part) => typeof part === 'string')
      .join('');

  it('charts the order KPIs, end-to-end latency, dead letters, offset lag and Lambda health', () => {
    const text = body();
    for (const kpi of [
      KpiName.enum.OrdersReceived,
      KpiName.enum.OrdersConfirmed,
      KpiName.enum.OrdersRejected,
      KpiName.enum.OrdersShipped,
      KpiName.enum.EndToEndLatency,
    ]) {
      expect(text).toContain(`SEARCH('{${METRICS_NAMESPACE},service} MetricName=\\"${kpi}\\"'`);
    }
    for (const name of consumers) {
      expect(text).toContain(
        `"${METRICS_NAMESPACE}","${KpiName.enum.RecordsDeadLettered}","service","${name}"`,
      );
    }
    expect(text).toContain('"OnFailureDestinationDeliveredEventCount","EventSourceMappingUUID"');
    expect(text).toMatch(/'p50'/);
    expect(text).toMatch(/'p99'/);
    expect(text.match(/OffsetLag/g)?.length).toBe(consumers.length);
    for (const metric of ['Errors', 'Throttles', 'Duration']) expect(text).toContain(`"${metric}"`);
  });

  it('alarms on dead letters, on each consumer offset lag and on each function errors, to an encrypted topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const offsetLag = alarms.filter((a) => a.MetricName === 'OffsetLag');
    expect(offsetLag.map((a) => a.Dimensions).sort()).toEqual(
      consumers.map((name) => [{ Name: 'FunctionName', Value: { Ref: logicalId(fnOf(name).fn) } }]).sort(),
    );
    expect(offsetLag).toHaveLength(consumers.length);
    expect(alarms.filter((a) => a.MetricName === 'Errors')).toHaveLength(functionNames.length);
    const deadLetters = alarms.filter((a) => JSON.stringify(a.Metrics ?? '').includes('RecordsDeadLettered'));
    expect(deadLetters).toHaveLength(1);
    expect(JSON.stringify(deadLetters[0]!.Metrics)).toContain('OnFailureDestinationDeliveredEventCount');
    // Operator data order-api refuses (a catalog entry that does not fit) alarms too.
    expect(alarms.filter((a) => a.MetricName === 'CatalogItemInvalid')).toEqual([
      expect.objectContaining({ Dimensions: [{ Name: 'service', Value: 'order-api' }], Threshold: 1 }),
    ]);
    const topicId = ofType('AWS::SNS::Topic')[0]![0];
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
    synth.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });
});

describe('one KPI path', () => {
  it('reads the KPIs topic with the kpis function alone, which produces no KPIs (it would read them back)', () => {
    const readers = consumers.filter((name) => kafkaTrigger(name)?.topic === 'KPIs');
    expect(readers).toEqual(['kpis']);
    expect(resourceOf(fnOf('kpis').mapping!).Properties.Topics).toEqual(['KPIs']);
    expect(spec('kpis').produces).toEqual(['DeadLetterQueue']);
  });

  it('alarms on dead letters with at most 10 metrics: the kpis total of every step, its own, each mapping', () => {
    const [alarm] = ofType('AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties)
      .filter((a) => JSON.stringify(a.Metrics ?? '').includes('RecordsDeadLettered'));
    type Query = { MetricStat?: { Metric: { MetricName: string; Dimensions?: { Value: unknown }[] } } };
    const stats = (alarm!.Metrics as Query[]).flatMap((q) => (q.MetricStat ? [q.MetricStat.Metric] : []));
    expect(stats.length).toBeLessThanOrEqual(10);
    expect(
      stats.filter((m) => m.MetricName === 'RecordsDeadLettered').map((m) => m.Dimensions?.[0]?.Value),
    ).toEqual([ALL_STEPS_SERVICE, 'kpis']);
    expect(stats.filter((m) => m.MetricName === 'OnFailureDestinationDeliveredEventCount')).toHaveLength(
      consumers.length,
    );
  });
});

describe('proofs', () => {
  it('has no unacknowledged cdk-nag AwsSolutions finding, and every acknowledgment has a reason', () => {
    expect(nagFindings(synth)).toEqual([]);
    const acknowledged = synth.stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => id.replace(/^Annotation::/, '').startsWith('AwsSolutions-'));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) expect(reason.length, id).toBeGreaterThan(30);
  });

  it('passes cfn-lint with no error or warning', async () => {
    const result = await cfnLint(synth.template.toJSON(), synth.stack.stackName);
    expect(result.output).toBe('');
    expect(result.exitCode).toBe(0);
  }, 180_000);
});
