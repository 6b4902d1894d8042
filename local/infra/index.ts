import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { projectRoot } from '../python/venv.ts';
import { describeInfra } from './describe.ts';
import { startDynamoDb } from './dynamodb.ts';
import type { InfraService } from './errors.ts';
import { kafkaAnswers, startKafka } from './kafka.ts';
import { answersHttp, type RunningService, waitUntilReady } from './process.ts';
import { provisionFromManifest } from './provision.ts';
import { startSns } from './sns.ts';

export { localDynamoDbConfig } from './dynamodb.ts';
export { InfraError, type InfraService } from './errors.ts';
export { ensureKafkaJars, findJava } from './kafka.ts';
export { findFreePorts, stopAllManaged } from './process.ts';
export { type ProvisionResult, provisionFromManifest } from './provision.ts';

export const DEFAULT_KAFKA_PORT = 9092;
export const DEFAULT_DYNAMODB_PORT = 8000;
export const DEFAULT_SNS_PORT = 8001;

/**
 * Ports default to 9092 (Kafka, its KRaft controller on the next port), 8000 and 8001 on 127.0.0.1; state
 * (Kafka's log dirs, the tables, logs) lives in `dataDir`, default `.local/data`, or with
 * `ephemeral` in a temporary dir that `stop()` deletes (tests).
 */
export interface LocalInfraOptions {
  kafkaPort?: number;
  controllerPort?: number;
  dynamodbPort?: number;
  snsPort?: number;
  dataDir?: string;
  ephemeral?: boolean;
  /**
   * Services already running elsewhere (e.g. docker-compose), only waited for. Unset (or null): `KAFKA_BROKERS`
   * / `DYNAMODB_ENDPOINT` / `SNS_ENDPOINT` from the environment, else started here.
   */
  kafkaBrokers?: string[] | null;
  dynamodbEndpoint?: string | null;
  snsEndpoint?: string | null;
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
  /**
   * Start empty: delete Kafka's data and the DynamoDB tables kept in `dataDir` first, both together so that
   * offsets and tables stay in step. Default: `ORDER_PIPELINE_FRESH=1` in the environment.
   */
  reset?: boolean;
}

export type LocalInfra = Awaited<ReturnType<typeof startLocalInfra>>;

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
export async function startLocalInfra(options: LocalInfraOptions = {}) {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { kafkaPort = DEFAULT_KAFKA_PORT } = options;
  const fromEnv = (name: string) => process.env[name]?.trim() || undefined;
  const external = {
    kafka: options.kafkaBrokers ?? brokersFromEnv(),
    dynamodb: options.dynamodbEndpoint ?? fromEnv(RuntimeEnv.dynamodbEndpoint),
    sns: options.snsEndpoint ?? fromEnv(RuntimeEnv.snsEndpoint),
  };
  const dataDir = options.ephemeral
    ? await mkdtemp(join(tmpdir(), 'order-pipeline-infra-'))
    : (options.dataDir ?? join(projectRoot, '.local', 'data'));
  const reset = options.reset ?? process.env.ORDER_PIPELINE_FRESH === '1';
  if (reset && !external.kafka) {
    await rm(join(dataDir, 'kafka', 'data'), { recursive: true, force: true });
    log(`[kafka] reset: deleted the topics and offsets kept in ${join(dataDir, 'kafka', 'data')}`);
  }

  // An external service is only waited for; one this call starts is stopped by `stop()`.
  const [kafka, dynamodb, sns] = await Promise.allSettled([
    external.kafka
      ? waitFor('kafka', external.kafka, kafkaAnswers)
      : startKafka({
          log,
          port: kafkaPort,
          controllerPort: options.controllerPort ?? kafkaPort + 1,
          dir: join(dataDir, 'kafka'),
        }).then((running) => ({ at: running.brokers, running })),
    external.dynamodb
      ? waitFor('dynamodb', external.dynamodb, answersHttp)
      : startDynamoDb({
          log,
          port: options.dynamodbPort ?? DEFAULT_DYNAMODB_PORT,
          dir: join(dataDir, 'dynamodb'),
          reset,
        }).then((running) => ({ at: running.endpoint, running })),
    external.sns
      ? waitFor('sns', external.sns, answersHttp)
      : startSns({ log, port: options.snsPort ?? DEFAULT_SNS_PORT, dir: join(dataDir, 'sns') }).then(
          (running) => ({ at: running.endpoint, running }),
        ),
  ]);
  const results = { kafka, dynamodb, sns };
  const running = Object.values(results).flatMap((r) =>
    r.status === 'fulfilled' && r.value.running ? [r.value.running] : [],
  );
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(running.map((service) => service.stop()));
      if (options.ephemeral) await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  if (kafka.status === 'rejected' || dynamodb.status === 'rejected' || sns.status === 'rejected') {
    // One failed: take the others down again rather than leave half an environment running. Only one error
    // can be thrown; the others are still worth seeing.
    await stop();
    const failures = Object.entries(results).flatMap(([name, r]) =>
      r.status === 'rejected' ? [[name, r.reason]] : [],
    );
    for (const [name, reason] of failures.slice(1)) log(`[${name}] ${reason}`);
    throw failures[0]?.[1];
  }
  const each = <T>(of: (service: { running?: RunningService }) => T) => ({
    kafka: of(kafka.value),
    dynamodb: of(dynamodb.value),
    sns: of(sns.value),
  });
  return {
    kafkaBrokers: kafka.value.at,
    dynamodbEndpoint: dynamodb.value.at,
    snsEndpoint: sns.value.at,
    dataDir,
    /** Which services this call started (and `stop()` stops: SIGTERM, then SIGKILL); the others were external. */
    started: each(({ running }) => running !== undefined),
    logFiles: each(({ running }) => running?.logFile),
    pids: each(({ running }) => running?.process.pid),
    stop,
  };
}

/** A service named by the caller or the environment: only waited for, never stopped. */
const waitFor = <A extends string | string[]>(
  service: InfraService,
  at: A,
  probe: (at: A) => () => Promise<boolean>,
) =>
  waitUntilReady(service, `${service} at ${at}`, probe(at), { timeoutMs: 120_000 }).then(() => ({
    at,
    running: undefined as RunningService | undefined,
  }));

/**
 * `npm start` and `npm run infra`: the services started (or found) and the manifest's topics, tables and
 * channels made in them; prints where everything is. A failure stops what was started.
 */
export async function startProvisioned(
  options: LocalInfraOptions & { log: (line: string) => void; tablePrefix?: string },
): Promise<LocalInfra> {
  const infra = await startLocalInfra(options);
  try {
    const provisioned = await provisionFromManifest({ ...infra, tablePrefix: options.tablePrefix });
    options.log(describeInfra(infra, provisioned).join('\n'));
    return infra;
  } catch (error) {
    await infra.stop();
    throw error;
  }
}
