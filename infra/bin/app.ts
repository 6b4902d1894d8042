import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from '../lib/config.ts';
import { OrderPipelineStack } from '../lib/order-pipeline-stack.ts';

export const STACK_NAME = 'OrderPipeline';

/**
 * Builds the CDK app. Shared with the tests, so that what they assert is what `cdk synth` produces.
 * The stack is environment-agnostic (synthesizes without credentials) unless an existing VPC must be
 * looked up, which needs the account and region of the deployment.
 */
export function buildApp(app = new App()): { app: App; stack: OrderPipelineStack } {
  const config = readConfig((key) => app.node.tryGetContext(key));
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;
  const stack = new OrderPipelineStack(app, STACK_NAME, {
    description: 'Serverless Kafka order pipeline: MSK, Lambda event source mappings, DynamoDB, API Gateway',
    config,
    ...(config.vpcId ? { env: { account, region } } : {}),
  });
  Tags.of(app).add('project', 'serverless-kafka-order-pipeline');
  // cdk-nag v3 is a policy validation plugin: any unacknowledged finding fails `cdk synth`/`deploy`.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildApp().app.synth();
}
