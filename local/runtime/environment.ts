import {
  channelEnvironment,
  type FunctionName,
  localTableName,
  METRICS_NAMESPACE,
  manifest,
  publishedChannels,
  RuntimeEnv,
  type TableName,
  tableEnvironment,
} from '../../topology/index.ts';
import type { ProvisionOptions } from '../infra/provision.ts';
import { localTopicArn } from '../infra/sns.ts';
import { localRegion } from './lambda-context.ts';

/**
 * The environment Lambda gives `fn` locally: the manifest's wiring plus the endpoints (and table prefix)
 * that provisioning created them at.
 */
export function functionEnvironment(fn: FunctionName, endpoints: ProvisionOptions): Record<string, string> {
  const spec = manifest.functions[fn];
  const tables = Object.keys(spec.tables) as TableName[];
  return {
    // What the Lambda service itself sets.
    AWS_REGION: localRegion(),
    AWS_DEFAULT_REGION: localRegion(),
    AWS_LAMBDA_FUNCTION_NAME: fn,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn}`,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    // Powertools reports `cold_start` (and the ColdStart metric) only for on-demand environments.
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    // No X-Ray daemon here: Powertools Tracer off (it would otherwise take AWS_EXECUTION_ENV for Lambda's).
    // The order's trace context still flows in the records' headers, recorded as local spans.
    POWERTOOLS_TRACE_ENABLED: 'false',
    // The deployers' contract (topology/runtime-env.ts), with the local values.
    [RuntimeEnv.kafkaBrokers]: endpoints.kafkaBrokers.join(','),
    [RuntimeEnv.kafkaAuth]: 'none',
    [RuntimeEnv.dynamodbEndpoint]: endpoints.dynamodbEndpoint,
    [RuntimeEnv.snsEndpoint]: endpoints.snsEndpoint,
    [RuntimeEnv.metricsNamespace]: METRICS_NAMESPACE,
    [RuntimeEnv.serviceName]: fn,
    ...tableEnvironment(tables, (table) => localTableName(table, endpoints.tablePrefix)),
    // The topics provisioning creates in moto (local/infra/provision.ts), in the region the functions use.
    ...channelEnvironment(publishedChannels(fn), (channel) =>
      localTopicArn(channel, endpoints.tablePrefix, localRegion()),
    ),
    ...spec.environment,
  };
}

/**
 * Settings a developer gives the local functions from the shell, as a deployer would set them on the
 * functions (log levels only): every other variable an environment sees is the function's own.
 */
export const PASSED_THROUGH = ['POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_DEV', 'AWS_LAMBDA_LOG_LEVEL'] as const;

export function passedThroughVariables(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(
    PASSED_THROUGH.flatMap((name) => (from[name] === undefined ? [] : [[name, from[name] as string]])),
  );
}

/** Sets `vars` on process.env and returns a function that puts back what was there before. */
export function applyEnvironment(vars: Record<string, string>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(vars)) {
    if (!previous.has(name)) previous.set(name, process.env[name]);
    process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
