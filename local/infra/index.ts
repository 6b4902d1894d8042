import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { projectRoot } from '../python/venv.ts';
import { type RunningDynamoDb, startDynamoDb, waitForDynamoDb } from './dynamodb.ts';
import { type RunningKafka, startKafka, waitForKafka } from './kafka.ts';

export { localDynamoDbConfig, localRegion } from './dynamodb.ts';
export { InfraError, type InfraFailure, type InfraService } from './errors.ts';
export { ensureKafkaJars, findJava } from './kafka.ts';
export { findFreePort, findFreePorts, isPortFree } from './ports.ts';
export { stopAllManaged } from './process.ts';
export {
  type ProvisionedTable,
  type ProvisionedTopic,
  type ProvisionOptions,
  type ProvisionResult,
  provisionFromManifest,
} from './provision.ts';

export const DEFAULT_KAFKA_PORT = 9092;
export const DEFAULT_DYNAMODB_PORT = 8000;
export const defaultDataDir = join(projectRoot, '.local', 'data');

export interface LocalInfraOptions {
  /** Interface the services listen on. Default 127.0.0.1 (never exposed to the network). */
  host?: string;
  /** Kafka's client listener. Default 9092. */
  kafkaPort?: number;
  /** Kafka's KRaft controller listener. Default: the port after `kafkaPort`. */
  controllerPort?: number;
  /** Default 8000. */
  dynamodbPort?: number;
  /** Persistent state (Kafka's log dirs, logs, pid files). Default `.local/data`. */
  dataDir?: string;
  /** Use a fresh temporary data dir, deleted by `stop()` (tests). Overrides `dataDir`. */
  ephemeral?: boolean;
  /**
   * Services already running elsewhere (e.g. docker-compose): nothing is started for them, they are
   * only waited for. Default: `KAFKA_BROKERS` / `DYNAMODB_ENDPOINT` from the environment; pass `null`
   * to ignore the environment and always start our own.
   */
  kafkaBrokers?: string[] | null;
  dynamodbEndpoint?: string | null;
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
  /** How long each service may take to answer. Default 120 s. */
  startTimeoutMs?: number;
  /**
   * Start empty: delete Kafka's data and the DynamoDB tables kept in `dataDir` first, both together so
   * that offsets and tables stay in step. Default: `ORDER_PIPELINE_FRESH=1` in the environment.
   */
  reset?: boolean;
}

export interface LocalInfra {
  kafkaBrokers: string[];
  dynamodbEndpoint: string;
  /** Where state and logs live (a temp dir when ephemeral). */
  dataDir: string;
  /** Which services this call started (and `stop()` will stop); the others were external. */
  started: { kafka: boolean; dynamodb: boolean };
  /** The logs of the services this call started. */
  logFiles: { kafka?: string; dynamodb?: string };
  /** Stops what was started (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
}

/** `KAFKA_BROKERS` as a list, or undefined when unset. */
export function brokersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const value = env[RuntimeEnv.kafkaBrokers]?.trim();
  return value ? value.split(',').map((broker) => broker.trim()) : undefined;
}

/**
 * Brings up the local Kafka broker and DynamoDB endpoint, or waits for external ones named by
 * `KAFKA_BROKERS` / `DYNAMODB_ENDPOINT`. Resolves when both answer; provisioning is separate
 * (`provisionFromManifest`) so callers decide when topics and tables are created.
 */
export async function startLocalInfra(options: LocalInfraOptions = {}): Promise<LocalInfra> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const host = options.host ?? '127.0.0.1';
  const kafkaPort = options.kafkaPort ?? DEFAULT_KAFKA_PORT;
  const controllerPort = options.controllerPort ?? kafkaPort + 1;
  const dynamodbPort = options.dynamodbPort ?? DEFAULT_DYNAMODB_PORT;
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const externalBrokers = options.kafkaBrokers === undefined ? brokersFromEnv() : options.kafkaBrokers;
  const externalDynamoDb =
    options.dynamodbEndpoint === undefined
      ? process.env[RuntimeEnv.dynamodbEndpoint]?.trim() || undefined
      : options.dynamodbEndpoint;
  const dataDir = options.ephemeral
    ? await mkdtemp(join(tmpdir(), 'order-pipeline-infra-'))
    : (options.dataDir ?? defaultDataDir);
  const reset = options.reset ?? process.env.ORDER_PIPELINE_FRESH === '1';
  if (reset && !externalBrokers) {
    await rm(join(dataDir, 'kafka', 'data'), { recursive: true, force: true });
    log(`[kafka] reset: deleted the topics and offsets kept in ${join(dataDir, 'kafka', 'data')}`);
  }

  const kafka: Promise<RunningKafka | string[]> = externalBrokers
    ? waitForKafka(externalBrokers, { timeoutMs }).then(() => externalBrokers)
    : startKafka({
        host,
        port: kafkaPort,
        controllerPort,
        dir: join(dataDir, 'kafka'),
        log,
        startTimeoutMs: timeoutMs,
      });
  const dynamodb: Promise<RunningDynamoDb | string> = externalDynamoDb
    ? waitForDynamoDb(externalDynamoDb, { timeoutMs }).then(() => externalDynamoDb)
    : startDynamoDb({
        host,
        port: dynamodbPort,
        dir: join(dataDir, 'dynamodb'),
        log,
        startTimeoutMs: timeoutMs,
        reset,
      });

  const [kafkaResult, dynamodbResult] = await Promise.allSettled([kafka, dynamodb]);
  const runningKafka =
    kafkaResult.status === 'fulfilled' && !Array.isArray(kafkaResult.value) ? kafkaResult.value : undefined;
  const runningDynamoDb =
    dynamodbResult.status === 'fulfilled' && typeof dynamodbResult.value !== 'string'
      ? dynamodbResult.value
      : undefined;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all([runningKafka?.stop(), runningDynamoDb?.stop()]);
      if (options.ephemeral) await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  // One failed: take the other one down again rather than leave half an environment running.
  if (kafkaResult.status === 'rejected' || dynamodbResult.status === 'rejected') {
    await stop();
    if (kafkaResult.status === 'rejected' && dynamodbResult.status === 'rejected') {
      // Only one error can be thrown; the other one is still worth seeing.
      log(`[dynamodb] ${(dynamodbResult.reason as Error)?.message ?? String(dynamodbResult.reason)}`);
    }
    throw kafkaResult.status === 'rejected'
      ? kafkaResult.reason
      : (dynamodbResult as PromiseRejectedResult).reason;
  }

  return {
    kafkaBrokers: runningKafka ? runningKafka.brokers : (kafkaResult.value as string[]),
    dynamodbEndpoint: runningDynamoDb ? runningDynamoDb.endpoint : (dynamodbResult.value as string),
    dataDir,
    started: { kafka: runningKafka !== undefined, dynamodb: runningDynamoDb !== undefined },
    logFiles: { kafka: runningKafka?.logFile, dynamodb: runningDynamoDb?.logFile },
    stop,
  };
}
