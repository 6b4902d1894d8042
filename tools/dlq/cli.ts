/**
 * `npm run dlq:replay`: sends dead letters back to the topics they came from, through the consumers'
 * idempotency again, each record at most once (claimed first in the idempotency table, ledger.ts).
 * The design: README.md, "Processing guarantees".
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { topicNames } from '../../events/topics.ts';
import { ConfigError, type KafkaConfig, readKafkaConfig } from '../../functions/shared/config.ts';
import { dynamoDbClientConfig } from '../../functions/shared/dynamodb.ts';
import { clientIdFor, resolveConnection } from '../../functions/shared/kafka/connection.ts';
import { localTableName, tableEnvVar } from '../../topology/index.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { deadLetterTopic, kafkaConsumers } from '../../topology/topics.ts';
import { type CommandOutput, flagsOf, parseFlags, readCommandLine, UsageError } from '../command-line.ts';
import { ReplayLedger } from './ledger.ts';
import { ReplayTimeoutError } from './read.ts';
import { defaultTimeouts, type ReplayOptions, type ReplaySummary, replayDeadLetters } from './replay.ts';

/** The steps that can have dead letters: the manifest's Kafka consumers. */
const consumerSteps = kafkaConsumers.map(({ name }) => name);
const replayTargets = topicNames.filter((t) => t !== deadLetterTopic);
/** Every wait is whole seconds, at least one: a fraction that rounds to 0 ms would time out at once. */
const MAX_SECONDS = 86_400;

export const usage = [
  'usage: npm run dlq:replay -- [--dry-run] [--topic <source topic>] [--reason poison|retries-exhausted]',
  '                             [--function <step>] [--order <order id>] [--include-failed-replays]',
  '                             [--timeout <seconds>] [--idle-timeout <seconds>]',
  `  --function: one of ${consumerSteps.join(', ')}`,
  `  --timeout, --idle-timeout: whole seconds, 1 to ${MAX_SECONDS}`,
  '  uses KAFKA_BROKERS / MSK_CLUSTER_ARN, and TABLE_IDEMPOTENCY / DYNAMODB_ENDPOINT (where replays are claimed)',
].join('\n');

/** 0 done, 1 Kafka or DynamoDB failed (e.g. no broker reachable), 2 bad arguments, 3 a wait timed out, 130 interrupted. */
export const ExitCode = { ok: 0, kafka: 1, usage: 2, timeout: 3, interrupted: 130 } as const;

const options = flagsOf({
  string: ['topic', 'reason', 'function', 'order', 'timeout', 'idle-timeout'],
  boolean: ['dry-run', 'include-failed-replays'],
});

function seconds(flag: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > MAX_SECONDS)
    throw new UsageError(`${flag} must be a whole number of seconds from 1 to ${MAX_SECONDS}, got "${text}"`);
  return Number(text) * 1000;
}

function given(flag: string, text: string | undefined): string | undefined {
  if (text?.trim() === '') throw new UsageError(`${flag} needs a value`);
  return text;
}

/** The flag's value when it is one of `allowed`; a UsageError naming them otherwise. */
function oneOf<T extends string>(flag: string, text: string | undefined, allowed: readonly T[]) {
  const value = given(flag, text);
  const list = allowed.length === 2 ? allowed.join(' or ') : `one of ${allowed.join(', ')}`;
  if (value !== undefined && !(allowed as readonly string[]).includes(value))
    throw new UsageError(`${flag} must be ${list}, got "${value}"`);
  return value as T | undefined;
}

/** Reads the command line; throws a `UsageError` saying what is wrong (unknown flag, missing or bad value). */
export function parseCommandLine(args: readonly string[]) {
  return commandLineOf(parseFlags({ options, args }).values);
}

function commandLineOf(values: ReturnType<typeof parseFlags<typeof options>>['values']) {
  const filter: ReplayOptions['filter'] = {
    topic: oneOf('--topic', values.topic, replayTargets),
    reason: oneOf('--reason', values.reason, ['poison', 'retries-exhausted'] as const),
    failedIn: oneOf('--function', values.function, consumerSteps),
    orderId: given('--order', values.order),
  };
  const overallMs = seconds('--timeout', values.timeout, defaultTimeouts.overallMs);
  const idleMs = seconds('--idle-timeout', values['idle-timeout'], defaultTimeouts.idleMs);
  return {
    dryRun: values['dry-run'] ?? false,
    includeFailedReplays: values['include-failed-replays'] ?? false,
    filter: Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as typeof filter,
    timeouts: { overallMs, idleMs: Math.min(idleMs, overallMs) },
  };
}

/** The report: what was read, what went back, what stayed and why. */
export function formatSummary(summary: ReplaySummary, dryRun: boolean): string[] {
  const sent = dryRun ? `${summary.wouldReplay} would be replayed` : `${summary.replayed} replayed`;
  const lines = [
    `${summary.scanned} record(s) read from ${deadLetterTopic}: ${summary.letters} dead letter(s), ` +
      `${summary.markers} replay marker(s), ${summary.unreadable} unreadable`,
    `${summary.matched} matched: ${sent}, ${summary.alreadyReplayed} already replayed, ${summary.skipped.length} skipped`,
  ];
  const byKind = new Map<string, number>();
  for (const { kind } of summary.skipped) byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  for (const [kind, count] of byKind) lines.push(`  skipped ${count}: ${kind}`);
  if (summary.interrupted)
    lines.push('interrupted: the letters after the last one reported were not looked at');
  return lines;
}

/** The functions' configuration errors are the operator's: a usage error (exit 2). */
function asUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw error instanceof ConfigError ? new UsageError(error.message) : error;
  }
}

/** Whether the environment names a cluster; with none, the tool uses the local ones of `npm start`. */
const namesCluster = (env: NodeJS.ProcessEnv) =>
  Boolean(env[RuntimeEnv.kafkaBrokers]?.trim() || env[RuntimeEnv.mskClusterArn]?.trim());

/**
 * The cluster, from the functions' environment contract (topology/runtime-env.ts): `KAFKA_BROKERS` and/or
 * `MSK_CLUSTER_ARN`, `KAFKA_AUTH`, `AWS_REGION` (or the CLI's `AWS_DEFAULT_REGION`); neither brokers nor
 * a cluster means the local broker (127.0.0.1:9092).
 */
export function kafkaConfigOf(env: NodeJS.ProcessEnv): KafkaConfig {
  const config = asUsage(() =>
    readKafkaConfig({
      ...env,
      [RuntimeEnv.kafkaBrokers]: namesCluster(env) ? env[RuntimeEnv.kafkaBrokers] : '127.0.0.1:9092',
      AWS_REGION: env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    }),
  );
  const bad = config.brokers.find((broker) => !/^\S+:\d{1,5}$/.test(broker));
  if (bad !== undefined || (config.brokers.length === 0 && !config.clusterArn))
    throw new UsageError(
      `${RuntimeEnv.kafkaBrokers} must be host:port[,host:port...], got "${env[RuntimeEnv.kafkaBrokers]}"`,
    );
  return config;
}

/**
 * Where replays are claimed (ledger.ts), from the functions' contract: the idempotency table named by
 * `TABLE_IDEMPOTENCY`, at `DYNAMODB_ENDPOINT` when set (dynoxide), else DynamoDB in `AWS_REGION`. With no
 * cluster named either, the local ones of `npm start` (`order-pipeline-idempotency` on 127.0.0.1:8000).
 */
export function ledgerConfigOf(
  env: NodeJS.ProcessEnv,
  kafka: KafkaConfig,
): { tableName: string; client: DynamoDBClientConfig } {
  const endpoint =
    env[RuntimeEnv.dynamodbEndpoint]?.trim() || (namesCluster(env) ? undefined : 'http://127.0.0.1:8000');
  const variable = tableEnvVar('idempotency');
  const tableName = env[variable]?.trim() || (endpoint ? localTableName('idempotency') : undefined);
  if (tableName === undefined)
    throw new UsageError(
      `${variable} is not set: name the idempotency table, where each replay is claimed (or ${RuntimeEnv.dynamodbEndpoint} for a local one)`,
    );
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(tableName))
    throw new UsageError(`${variable} is not a table name: "${tableName}"`);
  if (endpoint)
    return {
      tableName,
      client: asUsage(() => dynamoDbClientConfig({ ...env, [RuntimeEnv.dynamodbEndpoint]: endpoint })),
    };
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || kafka.region;
  if (!region) throw new UsageError('AWS_REGION is not set (needed for DynamoDB, where replays are claimed)');
  return { tableName, client: { region } };
}

/** An error with what caused it: the Kafka client nests the reason (e.g. a refused connection) in `errors`. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error && parts.length < 5) {
    parts.push(current.message.replace(/\.$/, ''));
    const nested = (current as { errors?: unknown }).errors;
    current = Array.isArray(nested) && nested.length > 0 ? nested.at(-1) : current.cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(error);
}

/** The whole command: parses `args`, replays, prints the report; resolves to the exit code. */
export async function run(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  out: CommandOutput,
  signal?: AbortSignal,
): Promise<number> {
  const command = readCommandLine({ usage, options, args, prefix: 'dlq:replay: ', out }, ({ values }) => {
    const config = kafkaConfigOf(env);
    return { commandLine: commandLineOf(values), config, ledgerConfig: ledgerConfigOf(env, config) };
  });
  if (command.exitCode !== undefined) return command.exitCode;
  const { commandLine, config, ledgerConfig } = command.settings;
  const dynamodb = new DynamoDBClient(ledgerConfig.client);
  try {
    const summary = await replayDeadLetters({
      connection: await resolveConnection(config, clientIdFor('dlq-replay')),
      ledger: new ReplayLedger(dynamodb, ledgerConfig.tableName),
      ...commandLine,
      ...(signal ? { signal } : {}),
      log: (line) => out.log(line),
    });
    const prefix = commandLine.dryRun ? 'dry run: ' : '';
    for (const line of formatSummary(summary, commandLine.dryRun)) out.log(prefix + line);
    return summary.interrupted ? ExitCode.interrupted : ExitCode.ok;
  } catch (error) {
    const timedOut = error instanceof ReplayTimeoutError;
    // Where the tool connects: the brokers, else the cluster they are resolved from.
    const target = config.brokers.join(',') || config.clusterArn;
    out.error(
      `dlq:replay ${timedOut ? 'timed out' : 'failed'} against ${target} (claims in ${ledgerConfig.tableName}): ${describeError(error)}`,
    );
    return timedOut ? ExitCode.timeout : ExitCode.kafka;
  } finally {
    dynamodb.destroy();
  }
}

if (import.meta.main) {
  // Ctrl-C stops between two letters, never between a claim, its replay and its completion; a second one
  // stops at once (a claim left IN_PROGRESS is taken over by a later run once its lease is over).
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    console.error('dlq:replay: stopping after the current letter (Ctrl-C again to stop now)');
    interrupt.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  process.exitCode = await run(process.argv.slice(2), process.env, console, interrupt.signal);
  process.removeAllListeners('SIGINT');
}
