import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { projectRoot } from '../python/venv.ts';
import { InfraError, outputOf } from './errors.ts';
import { installOnce } from './install-once.ts';
import { LOCALHOST, type RunningService, startService } from './process.ts';

const run = promisify(execFile);

const pomFile = join(projectRoot, 'local', 'maven', 'pom.xml');
const log4jConfig = join(import.meta.dirname, 'kafka-log4j2.xml');
/** Where Maven copies the broker's jars; `java -cp 'lib/*'` runs them. */
export const kafkaLibDir = join(projectRoot, '.local', 'maven', 'lib');
const withDocker =
  'With Docker you can instead run `docker compose up -d` and set KAFKA_BROKERS=localhost:9092.';

/** The `java` to run: `$JAVA_HOME/bin/java` when JAVA_HOME is set, else the one on PATH. Needs 17+. */
export async function findJava(): Promise<string> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  // `java -version` writes to stderr.
  const versionText = await run(java, ['-version']).then(
    ({ stderr, stdout }) => `${stderr}${stdout}`,
    () => {
      throw new InfraError(
        'java',
        `Java was not found${process.env.JAVA_HOME ? ` at ${java} (from JAVA_HOME)` : ' on PATH'}. The local Kafka broker runs on the JVM: install a JDK 17 or newer (e.g. apt-get install openjdk-17-jdk-headless, brew install openjdk@17) or set JAVA_HOME to one. ${withDocker}`,
      );
    },
  );
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionText);
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : Number.NaN;
  if (!(major >= 17))
    throw new InfraError(
      'java',
      `Apache Kafka 4 needs Java 17 or newer, but ${java} is: ${versionText.split('\n')[0]?.trim()}. Install a JDK 17+ or set JAVA_HOME to one.`,
    );
  return java;
}

/**
 * Fetches the Kafka broker's jars from Maven Central into `.local/maven/lib` (first run only). A stamp with
 * the pom's hash makes later calls instant; editing the pom fetches again.
 */
export async function ensureKafkaJars(log: (line: string) => void): Promise<string> {
  const partial = `${kafkaLibDir}.partial`;
  const mvn = process.env.MVN ?? 'mvn';
  const fetch = ['-B', '-q', '-Dstyle.color=never', '-f', pomFile, 'dependency:copy-dependencies'];
  await installOnce({
    dir: kafkaLibDir,
    stamp: join(kafkaLibDir, '.pom.sha256'),
    from: pomFile,
    onWait: () => log('[kafka] waiting for another process to finish fetching the jars...'),
    install: async () => {
      await run(mvn, ['--version']).catch(() => {
        throw new InfraError(
          'maven',
          `Maven ("${mvn}") was not found. The local Kafka broker's jars come from Maven Central through Maven: install Apache Maven 3.6+ (e.g. apt-get install maven, brew install maven) or set MVN to its path. ${withDocker}`,
        );
      });
      log('[kafka] downloading Apache Kafka 4.x jars from Maven Central (first run only)...');
      await rm(partial, { recursive: true, force: true });
      const options = { maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 };
      await run(mvn, [...fetch, '-DincludeScope=runtime', `-DoutputDirectory=${partial}`], options).catch(
        (error: unknown) => {
          throw new InfraError(
            'maven',
            `Maven could not fetch the Kafka jars (${pomFile}). Is Maven Central (or your Maven mirror in ~/.m2/settings.xml) reachable? Maven said:\n${outputOf(error)}`,
          );
        },
      );
      // Whole or not at all: the jars replace the old ones in one rename, and the stamp follows them.
      await rm(kafkaLibDir, { recursive: true, force: true });
      await rename(partial, kafkaLibDir);
      log('[kafka] jars ready');
    },
  });
  return kafkaLibDir;
}

export interface KafkaOptions {
  /** The PLAINTEXT listener clients use. */
  port: number;
  /** The KRaft controller listener. */
  controllerPort: number;
  /** Holds the broker's config, data (`data/`), and logs (`broker.log`). */
  dir: string;
  log: (line: string) => void;
}

export type RunningKafka = RunningService & { brokers: string[] };

/** A single-node KRaft cluster (combined broker and controller), the way Kafka 4 runs without ZooKeeper. */
function serverProperties({ port, controllerPort, dir }: KafkaOptions): string {
  const host = LOCALHOST;
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    listeners: `PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${host}:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.quorum.bootstrap.servers': `${host}:${controllerPort}`,
    'log.dirs': join(dir, 'data'),
    // One node: every internal topic gets one replica.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // A laptop does not need 50 partitions of consumer offsets; fewer makes the first group join quick.
    'offsets.topic.num.partitions': 10,
    // Consumers join at once instead of waiting three seconds for more members.
    'group.initial.rebalance.delay.ms': 0,
    // Like MSK's default: topics come from the manifest, a typo must fail instead of creating a topic.
    'auto.create.topics.enable': false,
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;
}

/**
 * Starts Apache Kafka on the JVM from the jars Maven fetched. The data directory is formatted on first use
 * and kept afterwards, so topics and records survive restarts.
 */
export async function startKafka(options: KafkaOptions): Promise<RunningKafka> {
  const { port, controllerPort, dir, log } = options;
  const [java, libDir] = await Promise.all([findJava(), ensureKafkaJars(log)]);
  const configFile = join(dir, 'server.properties');
  const jvm = [
    `-Dkafka.logs.dir=${dir}`,
    `-Dlog4j2.configurationFile=${log4jConfig}`,
    '-Djava.awt.headless=true',
    '-cp',
    join(libDir, '*'),
  ];
  const brokers = [`${LOCALHOST}:${port}`];
  const running = await startService({
    service: 'kafka',
    dir,
    file: 'kafka',
    // The JVM's own complaints land beside the broker's lines (kafka-log4j2.xml).
    logFile: join(dir, 'broker.log'),
    ports: [
      { port, what: 'Kafka (broker listener)' },
      { port: controllerPort, what: 'Kafka (KRaft controller listener)' },
    ],
    prepare: async () => {
      await writeFile(configFile, serverProperties(options));
      await formatStorageOnce(java, jvm, configFile, join(dir, 'data'));
    },
    command: java,
    args: ['-Xmx512m', '-Xms128m', '-XX:+ExitOnOutOfMemoryError', ...jvm, 'kafka.Kafka', configFile],
    what: `Kafka at ${brokers.join(',')}`,
    probe: kafkaAnswers(brokers),
  });
  return { ...running, brokers };
}

/**
 * KRaft needs its storage formatted with a cluster id before the first start; afterwards the data is kept (a
 * later start on other ports reuses it, which KRaft accepts for a single standalone voter).
 */
async function formatStorageOnce(java: string, jvm: string[], configFile: string, dataDir: string) {
  if (existsSync(join(dataDir, 'meta.properties'))) return;
  // What `kafka-storage random-uuid` prints: 16 random bytes in URL-safe base64, never with a leading dash
  // (a command line would read it as an option).
  const clusterId = randomBytes(16).toString('base64url').replace(/^-/, 'A');
  const format = ['kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', configFile];
  await run(java, [...jvm, ...format], { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }).catch(
    (error: unknown) => {
      throw new InfraError('kafka', `formatting the Kafka storage in ${dataDir} failed:\n${outputOf(error)}`);
    },
  );
}

/** The probe of a broker: ready once a metadata request lists at least one broker. */
export const kafkaAnswers = (brokers: string[]) => async (): Promise<boolean> => {
  const admin = new Admin({
    clientId: 'local-infra-wait',
    bootstrapBrokers: brokers,
    retries: 0,
    timeout: 3_000,
    connectTimeout: 3_000,
  });
  try {
    return (await admin.metadata({ topics: [] })).brokers.size > 0;
  } finally {
    await admin.close().catch(() => {});
  }
};
