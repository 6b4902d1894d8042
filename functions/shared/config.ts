import * as z from 'zod';
import { type TableName, tableEnvVar } from '../../topology/manifest.ts';
import { type KafkaAuth, RuntimeEnv } from '../../topology/runtime-env.ts';

/**
 * A missing or malformed setting (a function's environment variable, the stack's CDK context): the message
 * names it, so a bad deployment is obvious. The one configuration error of the project (infra/lib/config.ts
 * throws it too).
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** Empty strings count as unset: CloudFormation and shells both like to pass them. */
const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((value) => (value ? value : undefined));

const KafkaEnv = z
  .object({
    [RuntimeEnv.kafkaBrokers]: optionalText,
    [RuntimeEnv.mskClusterArn]: optionalText.pipe(
      z
        .string()
        .regex(/^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/.+/, 'must be an MSK cluster ARN')
        .optional(),
    ),
    [RuntimeEnv.kafkaAuth]: optionalText.pipe(z.enum(['iam', 'none']).optional()),
    AWS_REGION: optionalText,
  })
  .superRefine((env, ctx) => {
    if (!env[RuntimeEnv.kafkaBrokers] && !env[RuntimeEnv.mskClusterArn]) {
      ctx.addIssue({
        code: 'custom',
        path: [RuntimeEnv.kafkaBrokers],
        message: `is not set, and neither is ${RuntimeEnv.mskClusterArn}: set one of them`,
      });
    }
  });

export interface KafkaConfig {
  /** Given bootstrap brokers; when empty they are resolved from `clusterArn`. */
  brokers: string[];
  clusterArn: string | undefined;
  auth: KafkaAuth;
  /** Region for SigV4 signing and the MSK API: from AWS_REGION, else from the cluster ARN. */
  region: string | undefined;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.map(String).join('.') || 'environment'} ${issue.message}`)
    .join('; ');
}

export function parseBrokerList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
}

/** Reads the Kafka part of the environment contract (topology/runtime-env.ts). Pure: pass the env. */
export function readKafkaConfig(env: Env): KafkaConfig {
  const parsed = KafkaEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid Kafka configuration: ${describeIssues(parsed.error)}`);
  const clusterArn = parsed.data[RuntimeEnv.mskClusterArn];
  // Without an explicit choice, a cluster ARN means AWS (IAM); plain brokers mean a local broker.
  const auth: KafkaAuth = parsed.data[RuntimeEnv.kafkaAuth] ?? (clusterArn ? 'iam' : 'none');
  const region = parsed.data.AWS_REGION ?? clusterArn?.split(':')[3];
  if (auth === 'iam' && !region) {
    throw new ConfigError(
      `invalid Kafka configuration: AWS_REGION is not set (needed to sign MSK IAM tokens)`,
    );
  }
  return { brokers: parseBrokerList(parsed.data[RuntimeEnv.kafkaBrokers]), clusterArn, auth, region };
}

/** The physical name of a table, from its `TABLE_<NAME>` variable. Pure: pass the env. */
export function readTableName(table: TableName, env: Env): string {
  const variable = tableEnvVar(table);
  const value = env[variable]?.trim();
  if (!value) {
    throw new ConfigError(
      `environment variable ${variable} is not set (the physical name of the ${table} table)`,
    );
  }
  return value;
}

export function readDynamoDbEndpoint(env: Env): string | undefined {
  const value = env[RuntimeEnv.dynamodbEndpoint]?.trim();
  if (!value) return undefined;
  if (!URL.canParse(value)) {
    throw new ConfigError(`environment variable ${RuntimeEnv.dynamodbEndpoint} is not a URL: ${value}`);
  }
  return value;
}

// The process environment is read once per variable and cached: a Lambda's environment never changes.
let kafkaConfig: KafkaConfig | undefined;
const tableNames = new Map<TableName, string>();

export function kafkaConfigFromEnv(): KafkaConfig {
  kafkaConfig ??= readKafkaConfig(process.env);
  return kafkaConfig;
}

export function tableName(table: TableName): string {
  let name = tableNames.get(table);
  if (name === undefined) {
    name = readTableName(table, process.env);
    tableNames.set(table, name);
  }
  return name;
}

/** Forgets the cached configuration (tests and the local runtime change the environment between runs). */
export function resetConfig(): void {
  kafkaConfig = undefined;
  tableNames.clear();
}
