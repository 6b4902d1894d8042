import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { projectRoot } from '../python/venv.ts';
import { startDynamoDb, waitForDynamoDb } from './dynamodb.ts';
import { startKafka, waitForKafka } from './kafka.ts';
import { startSns, waitForSns } from './sns.ts';

export { localDynamoDbConfig, localRegion } from './dynamodb.ts';
export { InfraError, type InfraFailure, type InfraService } from './errors.ts';
export { ensureKafkaJars, findJava } from './kafka.ts';
export { findFreePort, findFreePorts, isPortFree } from './ports.ts';
export { stopAllManaged } from './process.ts';

import type { RunningService } from './process.ts';

export {
  type ProvisionedTable,
  type ProvisionedTopic,
  type ProvisionOptions,
  type ProvisionResult,
  provisionFromManifest,
} from './provision.ts';

export const DEFAULT_KAFKA_PORT = 9092;
export const DEFAULT_DYNAMODB_PORT = 8000;
export const DEFAULT_SNS_PORT = 8001;
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
  /** Default 8001. */
  snsPort?: number;
  /** Persistent state (Kafka's log dirs, logs, pid files). Default `.local/data`. */
  dataDir?: string;
  /** Use a fresh temporary data dir, deleted by `stop()` (tests). Overrides `dataDir`. */
  ephemeral?: boolean;
  /**
   * Services already running elsewhere (e.g. docker-compose): nothing is started for them, they are
   * only waited for. Default: `KAFKA_BROKERS` / `DYNAMODB_ENDPOINT` / `SNS_ENDPOINT` from the
   * environment; pass `null` to ignore the environment and always start our own.
   */
  kafkaBrokers?: string[] | null;
  dynamodbEndpoint?: string | null;
  snsEndpoint?: string | null;
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
  snsEndpoint: string;
  /** Where state and logs live (a temp dir when ephemeral). */
  dataDir: string;
  /** Which services this call started (and `stop()` will stop); the others were external. */
  started: { kafka: boolean; dynamodb: boolean; sns: boolean };
  /** The logs of the services this call started. */
  logFiles: { kafka?: string; dynamodb?: string; sns?: string };
  /** Stops what was started (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
}

/** `KAFKA_BROKERS` as a list, or undefined when unset. */
export function brokersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const value = env[RuntimeEnv.kafkaBrokers]?.trim();
  return value ? value.split(',').map((broker) => broker.trim()) : undefined;
}

/**
 * Brings up the local Kafka broker, DynamoDB endpoint (dynoxide) and SNS endpoint (moto), or waits for
 * external ones named by `KAFKA_BROKERS` / `DYNAMODB_ENDPOINT` / `SNS_ENDPOINT`. Resolves when all answer;
 * provisioning is separate (`provisionFromManifest`) so callers decide when topics and tables are created.
 */
export async function startLocalInfra(options: LocalInfraOptions = {}): Promise<LocalInfra> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const host = options.host ?? '127.0.0.1';
  const kafkaPort = options.kafkaPort ?? DEFAULT_KAFKA_PORT;
  const controllerPort = options.controllerPort ?? kafkaPort + 1;
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const fromEnv = (option: string | null | undefined, name: string) =>
    option === undefined ? process.env[name]?.trim() || undefined : (option ?? undefined);
  const externalBrokers =
    (options.kafkaBrokers === undefined ? brokersFromEnv() : options.kafkaBrokers) ?? undefined;
  const externalDynamoDb = fromEnv(options.dynamodbEndpoint, RuntimeEnv.dynamodbEndpoint);
  const externalSns = fromEnv(options.snsEndpoint, RuntimeEnv.snsEndpoint);
  const dataDir = options.ephemeral
    ? await mkdtemp(join(tmpdir(), 'order-pipeline-infra-'))
    : (options.dataDir ?? defaultDataDir);
  const reset = options.reset ?? process.env.ORDER_PIPELINE_FRESH === '1';
  if (reset && !externalBrokers) {
    await rm(join(dataDir, 'kafka', 'data'), { recursive: true, force: true });
    log(`[kafka] reset: deleted the topics and offsets kept in ${join(dataDir, 'kafka', 'data')}`);
  }

  const common = { host, log, startTimeoutMs: timeoutMs };
  const kafka = externalOrStarted(
    externalBrokers,
    (at) => waitForKafka(at, { timeoutMs }),
    () =>
      startKafka({ ...common, port: kafkaPort, controllerPort, dir: join(dataDir, 'kafka') }).then(
        (running) => ({ at: running.brokers, running }),
      ),
  );
  const dynamodb = externalOrStarted(
    externalDynamoDb,
    (at) => waitForDynamoDb(at, { timeoutMs }),
    () =>
      startDynamoDb({
        ...common,
        port: options.dynamodbPort ?? DEFAULT_DYNAMODB_PORT,
        dir: join(dataDir, 'dynamodb'),
        reset,
      }).then((running) => ({ at: running.endpoint, running })),
  );
  const sns = externalOrStarted(
    externalSns,
    (at) => waitForSns(at, { timeoutMs }),
    () =>
      startSns({ ...common, port: options.snsPort ?? DEFAULT_SNS_PORT, dir: join(dataDir, 'sns') }).then(
        (running) => ({ at: running.endpoint, running }),
      ),
  );

  // Settled together: a service failing while another still starts is never an unhandled rejection.
  const [kafkaResult, dynamodbResult, snsResult] = await Promise.all([
    settle(kafka),
    settle(dynamodb),
    settle(sns),
  ]);
  const results = { kafka: kafkaResult, dynamodb: dynamodbResult, sns: snsResult };
  const running = Object.values(results).flatMap((r) => (r.ok && r.value.running ? [r.value.running] : []));
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(running.map((service) => service.stop()));
      if (options.ephemeral) await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  // One failed: take the others down again rather than leave half an environment running.
  if (!results.kafka.ok || !results.dynamodb.ok || !results.sns.ok) {
    await stop();
    const failures = Object.entries(results).flatMap(([name, r]) =>
      r.ok ? [] : [{ name, reason: r.reason }],
    );
    // Only one error can be thrown; the others are still worth seeing.
    for (const { name, reason } of failures.slice(1))
      log(`[${name}] ${(reason as Error)?.message ?? String(reason)}`);
    throw failures[0]?.reason;
  }
  const [k, d, n] = [results.kafka.value, results.dynamodb.value, results.sns.value];
  return {
    kafkaBrokers: k.at,
    dynamodbEndpoint: d.at,
    snsEndpoint: n.at,
    dataDir,
    started: {
      kafka: k.running !== undefined,
      dynamodb: d.running !== undefined,
      sns: n.running !== undefined,
    },
    logFiles: { kafka: k.running?.logFile, dynamodb: d.running?.logFile, sns: n.running?.logFile },
    stop,
  };
}

/**
 * Where a service is and, when this call started it, the process to stop: an external one (named by the
 * caller or the environment) is only waited for.
 */
function externalOrStarted<A>(
  external: A | undefined,
  wait: (at: A) => Promise<void>,
  start: () => Promise<{ at: A; running: RunningService }>,
): Promise<{ at: A; running?: RunningService }> {
  return external === undefined ? start() : wait(external).then(() => ({ at: external }));
}

type Settled<T> = { ok: true; value: T } | { ok: false; reason: unknown };

/** A promise's outcome without throwing: the services start together, and all are seen before any fails. */
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (reason: unknown) => ({ ok: false as const, reason }),
  );
