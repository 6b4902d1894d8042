import { z } from 'zod';
import { ConfigError } from '../../functions/shared/config.ts';

/**
 * Deployment settings, from CDK context (`-c key=value` or cdk.json). Everything about topics, tables
 * and functions comes from topology/manifest.ts instead; these only choose where and how to deploy.
 */
export interface PipelineConfig {
  /** An existing VPC to deploy into (looked up: needs credentials). Absent: a new VPC. */
  vpcId?: string;
  /**
   * An existing MSK Provisioned cluster with IAM auth and Kafka 3.6+ (its topics are AWS::MSK::Topic
   * resources, which MSK Serverless does not serve). Absent: a new provisioned cluster.
   */
  mskClusterArn?: string;
  /** The existing cluster's security group; functions get ingress to it on 9098. */
  mskSecurityGroupId?: string;
  /** New cluster only. */
  kafkaVersion: string;
  brokerInstanceType: string;
  brokerVolumeGiB: number;
  /** `true`: tables are destroyed with the stack and topics are deleted. Default: data is retained. */
  destroyData: boolean;
  /** Subscribed to the alarm topic when given. */
  alarmEmail?: string;
  /** API Gateway stage throttling. */
  apiRateLimit: number;
  apiBurstLimit: number;
  /** Overrides every consumer's manifest batching window (MaximumBatchingWindowInSeconds, 0..300). */
  batchingWindowSeconds?: number;
  /** Event pollers per MSK event source mapping (provisioned mode). */
  minimumPollers: number;
  /** Default: the trigger topic's partitions (a partition is read by one poller at a time). */
  maximumPollers?: number;
}

const text = z
  .string()
  .trim()
  .transform((v) => v || undefined)
  .optional();
const flag = z
  .union([z.boolean(), z.enum(['true', 'false'])])
  .transform((v) => v === true || v === 'true')
  .default(false);
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const ContextSchema = z
  .object({
    vpcId: text.pipe(
      z
        .string()
        .regex(/^vpc-[0-9a-f]+$/, 'must look like vpc-0123abcd')
        .optional(),
    ),
    mskClusterArn: text.pipe(
      z
        .string()
        .regex(
          /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/]+\/[^/]+$/,
          'must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)',
        )
        .optional(),
    ),
    mskSecurityGroupId: text.pipe(
      z
        .string()
        .regex(/^sg-[0-9a-f]+$/, 'must look like sg-0123abcd')
        .optional(),
    ),
    kafkaVersion: text.pipe(z.string().default('3.9.x')),
    brokerInstanceType: text.pipe(z.string().startsWith('kafka.').default('kafka.t3.small')),
    brokerVolumeGiB: positiveInt(10),
    destroyData: flag,
    alarmEmail: text.pipe(z.email().optional()),
    apiRateLimit: positiveInt(50),
    apiBurstLimit: positiveInt(100),
    batchingWindowSeconds: z.coerce.number().int().min(0).max(300).optional(),
    minimumPollers: z.coerce.number().int().min(1).max(200).default(1),
    maximumPollers: z.coerce.number().int().min(1).max(2000).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.mskClusterArn && (!c.vpcId || !c.mskSecurityGroupId)) {
      ctx.addIssue({
        code: 'custom',
        path: ['mskClusterArn'],
        message:
          'an existing cluster also needs -c vpcId=<its VPC> and -c mskSecurityGroupId=<its security group>',
      });
    }
    if (c.maximumPollers !== undefined && c.maximumPollers < c.minimumPollers) {
      ctx.addIssue({
        code: 'custom',
        path: ['maximumPollers'],
        message: `must be at least minimumPollers (${c.minimumPollers})`,
      });
    }
    if (c.mskSecurityGroupId && !c.mskClusterArn) {
      ctx.addIssue({
        code: 'custom',
        path: ['mskSecurityGroupId'],
        message: 'only applies with -c mskClusterArn',
      });
    }
  });

export const contextKeys = Object.keys(ContextSchema.shape) as (keyof typeof ContextSchema.shape)[];

/** Reads the deployment settings; `get` is usually `(key) => app.node.tryGetContext(key)`. */
export function readConfig(get: (key: string) => unknown): PipelineConfig {
  const raw = Object.fromEntries(contextKeys.map((key) => [key, get(key) ?? undefined]));
  const parsed = ContextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `-c ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid CDK context:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
