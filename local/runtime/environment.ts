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
import { localTopicArn } from '../infra/sns.ts';
import { localRegion } from './lambda-context.ts';

export interface LocalEndpoints {
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  /** moto's SNS, for the channels' topics. */
  snsEndpoint: string;
  /** Prefix of the physical table and topic names (`<prefix>-<name>`), so test runs can use their own. */
  tablePrefix?: string;
}

/**
 * Variables that differ from one function to the next. Everything else a function gets is the same for
 * every function (see {@link sharedEnvironment}).
 */
export const perFunctionVariables = [
  RuntimeEnv.serviceName,
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_LOG_GROUP_NAME',
] as const;

/** The environment Lambda gives `fn` locally: the manifest's wiring plus the local endpoints. */
export function functionEnvironment(fn: FunctionName, endpoints: LocalEndpoints): Record<string, string> {
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
 * The union of every function's environment minus the per-function variables. The functions run in one
 * Node.js process, so they share `process.env`; that is sound only because every function gets the same
 * value for a shared variable (a function without a table simply ignores its `TABLE_` variable). A
 * conflict would be a manifest that the local runtime cannot honour, so it is refused.
 */
export function sharedEnvironment(
  fns: readonly FunctionName[],
  endpoints: LocalEndpoints,
): Record<string, string> {
  const merged: Record<string, string> = {};
  const owner: Record<string, string> = {};
  for (const fn of fns) {
    for (const [name, value] of Object.entries(functionEnvironment(fn, endpoints))) {
      if ((perFunctionVariables as readonly string[]).includes(name)) continue;
      if (name in merged && merged[name] !== value) {
        throw new Error(
          `functions ${owner[name]} and ${fn} need different values for ${name}; the local runtime shares one process.env`,
        );
      }
      merged[name] = value;
      owner[name] = fn;
    }
  }
  return merged;
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
