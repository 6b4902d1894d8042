import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { isTopicName, topicNames } from '../../events/topics.ts';
import { ConfigError, type KafkaConfig, readKafkaConfig } from '../../functions/shared/config.ts';
import { dynamoDbClientConfig } from '../../functions/shared/dynamodb.ts';
import { clientIdFor, resolveConnection } from '../../functions/shared/kafka/connection.ts';
import { localTableName, tableEnvVar } from '../../topology/index.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { deadLetterTopic, kafkaConsumers } from '../../topology/topics.ts';
import { flagsOf, parseFlags, readCommandLine, UsageError } from '../command-line.ts';
import type { ReplayFilter } from './dead-letter.ts';
import { ReplayLedger } from './ledger.ts';
import {
  defaultTimeouts,
  type ReplayOptions,
  type ReplaySummary,
  ReplayTimeoutError,
  replayDeadLetters,
} from './replay.ts';

/** The steps that can have dead letters: the manifest's Kafka consumers. */
export const consumerSteps = kafkaConsumers.map(({ name }) => name);

export const usage = [
  'usage: npm run dlq:replay -- [--dry-run] [--topic <source topic>] [--reason poison|retries-exhausted]',
  '                             [--function <step>] [--order <order id>] [--include-failed-replays]',
  '                             [--timeout <seconds>] [--idle-timeout <seconds>]',
  `  --function: one of ${consumerSteps.join(', ')}`,
  `  --timeout, --idle-timeout: whole seconds, 1 to 86400`,
  '  uses KAFKA_BROKERS / MSK_CLUSTER_ARN, and TABLE_IDEMPOTENCY / DYNAMODB_ENDPOINT (where replays are claimed)',
].join('\n');

/** 0 done, 1 Kafka or DynamoDB failed (e.g. no broker reachable), 2 bad arguments, 3 a wait timed out, 130 interrupted. */
export const ExitCode = { ok: 0, kafka: 1, usage: 2, timeout: 3, interrupted: 130 } as const;

export type CommandLine = Pick<ReplayOptions, 'filter' | 'dryRun' | 'includeFailedReplays'> & {
  timeouts: { overallMs: number; idleMs: number };
};

const replayTargets = topicNames.filter((t) => t !== deadLetterTopic);

/** Every wait is whole seconds, at least one: a fraction that rounds to 0 ms would time out at once. */
export const MAX_SECONDS = 86_400;

function seconds(flag: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const value = Number(text);
  if (!/^\d{1,5}$/.test(text) || value < 1 || value > MAX_SECONDS) {
    throw new UsageError(`${flag} must be a whole number of seconds from 1 to ${MAX_SECONDS}, got "${text}"`);
  }
  return value * 1000;
}

function nonEmpty(flag: string, text: string | undefined): string | undefined {
  if (text !== undefined && text.trim() === '') throw new UsageError(`${flag} needs a value`);
  return text;
}

/** Reads the command line; throws a `UsageError` saying what is wrong (unknown flag, missing or bad value). */
export function parseCommandLine(args: readonly string[]): CommandLine {
  return commandLineOf(parseFlags({ options, args }).values);
}

function commandLineOf(values: ReturnType<typeof parseFlags<typeof options>>['values']): CommandLine {
  const topic = nonEmpty('--topic', values.topic);
  if (topic !== undefined && (!isTopicName(topic) || topic === deadLetterTopic)) {
    throw new UsageError(`--topic must be one of ${replayTargets.join(', ')}, got "${topic}"`);
  }
  const { reason } = values;
  if (reason !== undefined && reason !== 'poison' && reason !== 'retries-exhausted') {
    throw new UsageError(`--reason must be poison or retries-exhausted, got "${reason}"`);
  }
  const failedIn = nonEmpty('--function', values.function);
  if (failedIn !== undefined && !(consumerSteps as string[]).includes(failedIn)) {
    throw new UsageError(`--function must be one of ${consumerSteps.join(', ')}, got "${failedIn}"`);
  }
  const orderId = nonEmpty('--order', values.order);
  const filter: ReplayFilter = {
    ...(topic !== undefined ? { topic } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(failedIn !== undefined ? { failedIn } : {}),
    ...(orderId !== undefined ? { orderId } : {}),
  };
  const overallMs = seconds('--timeout', values.timeout, defaultTimeouts.overallMs);
  const idleMs = Math.min(
    seconds('--idle-timeout', values['idle-timeout'], defaultTimeouts.idleMs),
    overallMs,
  );
  return {
    dryRun: values['dry-run'] ?? false,
    includeFailedReplays: values['include-failed-replays'] ?? false,
    filter,
    timeouts: { overallMs, idleMs },
  };
}

const options = flagsOf({
  string: ['topic', 'reason', 'function', 'order', 'timeout', 'idle-timeout'],
  boolean: ['dry-run', 'include-failed-replays'],
});

/** The report: what was read, what went back, what stayed and why. */
export function formatSummary(summary: ReplaySummary, dryRun: boolean): string[] {
  const lines = [
    `${summary.scanned} record(s) read from ${deadLetterTopic}: ${summary.letters} dead letter(s), ` +
      `${summary.markers} replay marker(s), ${summary.unreadable} unreadable`,
    `${summary.matched} matched: ` +
      (dryRun ? `${summary.wouldReplay} would be replayed` : `${summary.replayed} replayed`) +
      `, ${summary.alreadyReplayed} already replayed, ${summary.skipped.length} skipped`,
  ];
  const byKind = new Map<string, number>();
  for (const { kind } of summary.skipped) byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  for (const [kind, count] of byKind) lines.push(`  skipped ${count}: ${kind}`);
  if (summary.interrupted)
    lines.push('interrupted: the letters after the last one reported were not looked at');
  return lines;
}

/** The local broker of `npm start`, when the environment names no cluster. */
export const DEFAULT_BROKERS = '127.0.0.1:9092';

/**
 * The cluster, from the functions' environment contract (topology/runtime-env.ts): `KAFKA_BROKERS` and/or
 * `MSK_CLUSTER_ARN`, `KAFKA_AUTH`, `AWS_REGION` (or the CLI's `AWS_DEFAULT_REGION`); neither brokers nor
 * a cluster means the local broker.
 */
export function kafkaConfigOf(env: NodeJS.ProcessEnv): KafkaConfig {
  const named = env[RuntimeEnv.kafkaBrokers]?.trim() || env[RuntimeEnv.mskClusterArn]?.trim();
  let config: KafkaConfig;
  try {
    config = readKafkaConfig({
      ...env,
      [RuntimeEnv.kafkaBrokers]: named ? env[RuntimeEnv.kafkaBrokers] : DEFAULT_BROKERS,
      AWS_REGION: env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  const bad = config.brokers.find((broker) => !/^\S+:\d{1,5}$/.test(broker));
  if (bad !== undefined || (config.brokers.length === 0 && !config.clusterArn)) {
    throw new UsageError(
      `${RuntimeEnv.kafkaBrokers} must be host:port[,host:port...], got "${env[RuntimeEnv.kafkaBrokers]}"`,
    );
  }
  return config;
}

/** The local DynamoDB of `npm start`, when the environment names no cluster. */
export const DEFAULT_DYNAMODB_ENDPOINT = 'http://127.0.0.1:8000';

export interface LedgerConfig {
  /** The idempotency table, where each replay is claimed before it goes out (ledger.ts). */
  tableName: string;
  client: DynamoDBClientConfig;
}

const TableName = /^[A-Za-z0-9_.-]{3,255}$/;

/**
 * Where replays are claimed, from the functions' contract: the idempotency table named by
 * `TABLE_IDEMPOTENCY`, at `DYNAMODB_ENDPOINT` when set (dynoxide), else DynamoDB in `AWS_REGION`. With no
 * cluster named either, the local ones of `npm start` (`order-pipeline-idempotency` on 127.0.0.1:8000).
 */
export function ledgerConfigOf(env: NodeJS.ProcessEnv, kafka: KafkaConfig): LedgerConfig {
  const named = env[RuntimeEnv.kafkaBrokers]?.trim() || env[RuntimeEnv.mskClusterArn]?.trim();
  const endpoint =
    env[RuntimeEnv.dynamodbEndpoint]?.trim() || (named ? undefined : DEFAULT_DYNAMODB_ENDPOINT);
  const variable = tableEnvVar('idempotency');
  const tableName = env[variable]?.trim() || (endpoint ? localTableName('idempotency') : undefined);
  if (tableName === undefined) {
    throw new UsageError(
      `${variable} is not set: name the idempotency table, where each replay is claimed (or ${RuntimeEnv.dynamodbEndpoint} for a local one)`,
    );
  }
  if (!TableName.test(tableName)) throw new UsageError(`${variable} is not a table name: "${tableName}"`);
  if (endpoint) {
    try {
      return { tableName, client: dynamoDbClientConfig({ ...env, [RuntimeEnv.dynamodbEndpoint]: endpoint }) };
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
  }
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || kafka.region;
  if (!region) throw new UsageError('AWS_REGION is not set (needed for DynamoDB, where replays are claimed)');
  return { tableName, client: { region } };
}

/** Where the tool connects, for its messages: the brokers, else the cluster they are resolved from. */
const target = (config: KafkaConfig) => config.brokers.join(',') || (config.clusterArn ?? '');

/** An error with what caused it: the Kafka client nests the reason (e.g. a refused connection) in `errors`. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error && parts.length < 5) {
    parts.push(current.message.replace(/\.$/, ''));
    const nested = (current as { errors?: unknown }).errors;
    current = Array.isArray(nested) && nested.length > 0 ? nested.at(-1) : current.cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(error);
}

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

/** The whole command: parses `args`, replays, prints the report; resolves to the exit code. */
export async function run(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  out: Output,
  signal?: AbortSignal,
): Promise<number> {
  const command = readCommandLine({ usage, options, args, prefix: 'dlq:replay: ', out }, ({ values }) => {
    const commandLine = commandLineOf(values);
    const config = kafkaConfigOf(env);
    return { commandLine, config, ledgerConfig: ledgerConfigOf(env, config) };
  });
  if (command.exitCode !== undefined) return command.exitCode;
  const { commandLine, config, ledgerConfig } = command.settings;
  const dynamodb = new DynamoDBClient(ledgerConfig.client);
  try {
    const connection = await resolveConnection(config, clientIdFor('dlq-replay'));
    const summary = await replayDeadLetters({
      connection,
      ledger: new ReplayLedger(dynamodb, ledgerConfig.tableName),
      ...commandLine,
      ...(signal ? { signal } : {}),
      log: (line) => out.log(line),
    });
    for (const line of formatSummary(summary, commandLine.dryRun)) {
      out.log(`${commandLine.dryRun ? 'dry run: ' : ''}${line}`);
    }
    return summary.interrupted ? ExitCode.interrupted : ExitCode.ok;
  } catch (error) {
    const timedOut = error instanceof ReplayTimeoutError;
    out.error(
      `dlq:replay ${timedOut ? 'timed out' : 'failed'} against ${target(config)} (claims in ${ledgerConfig.tableName}): ${describeError(error)}`,
    );
    return timedOut ? ExitCode.timeout : ExitCode.kafka;
  } finally {
    dynamodb.destroy();
  }
}
