import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, type DynamoDBClientConfig, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { InfraError } from './errors.ts';
import { type RunningService, startEndpoint, type WaitOptions, waitForAwsEndpoint } from './process.ts';

type Log = (line: string) => void;

/**
 * The region every local client must use: the SNS endpoint (moto) keeps topics per region, and the
 * provisioner, the functions and the tests have to agree. `AWS_REGION` wins when set.
 */
export const localRegion = (): string =>
  process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';

/** Client settings for a local endpoint (dynoxide, moto): the local region, and credentials it takes as they come. */
export const localClientConfig = (endpoint: string) => ({
  endpoint,
  region: localRegion(),
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 2,
});

/** Client settings for the local DynamoDB endpoint. */
export const localDynamoDbConfig: (endpoint: string) => DynamoDBClientConfig = localClientConfig;

export interface DynamoDbOptions {
  host: string;
  port: number;
  /** Holds the endpoint's log (`dynoxide.log`), pid file and the tables (`state/`, see `dynamoDbStateDir`). */
  dir: string;
  log: Log;
  startTimeoutMs?: number;
  /** Start with no tables: the state kept in `dir` from earlier runs is deleted first. */
  reset?: boolean;
}

/** Where the local endpoint keeps its tables between runs (one SQLite database). Deleting it starts empty. */
export const dynamoDbStateDir = (dir: string): string => join(dir, 'state');

export type RunningDynamoDb = RunningService & { endpoint: string };

/** The npm package that carries dynoxide's binary for this machine (an optional dependency). */
export const dynoxidePackage = `@dynoxide/${process.platform}-${process.arch}`;

/** The dynoxide release package.json pins (`@dynoxide/linux-x64`). */
export const DYNOXIDE_VERSION = '1.2.1';

/**
 * Builds the pinned release from its tag, as dynoxide's release workflow builds the npm binaries (default
 * features, its Cargo.lock). Not `cargo install dynoxide-rs`: crates.io has no dynoxide-rs 1.2.1 (its
 * versions go from 1.1.0 to 2.0.0), so that installs the newest crate, a different dynoxide.
 */
export const dynoxideBuildCommand = `cargo install --locked --git https://github.com/nubo-db/dynoxide --tag v${DYNOXIDE_VERSION} dynoxide-rs`;

/**
 * The dynoxide executable: `DYNOXIDE_BIN` if set (e.g. one built with `dynoxideBuildCommand`), else the
 * one npm installed from the platform package.
 */
export function dynoxideBinary(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.DYNOXIDE_BIN?.trim();
  if (explicit) {
    if (!existsSync(explicit)) {
      throw new InfraError(
        'dynamodb',
        'start-failed',
        `DYNOXIDE_BIN names ${explicit}, which does not exist.`,
      );
    }
    return explicit;
  }
  try {
    const manifest = createRequire(import.meta.url).resolve(`${dynoxidePackage}/package.json`);
    return join(dirname(manifest), process.platform === 'win32' ? 'dynoxide.exe' : 'dynoxide');
  } catch {
    throw new InfraError(
      'dynamodb',
      'start-failed',
      `dynoxide, the local DynamoDB endpoint, is not installed for ${process.platform}-${process.arch}: npm installs ${dynoxidePackage} as an optional dependency where it is published. Otherwise build release ${DYNOXIDE_VERSION} (${dynoxideBuildCommand}; \`dynoxide --version\` must say ${DYNOXIDE_VERSION}) and set DYNOXIDE_BIN to the binary.`,
    );
  }
}

/**
 * Starts dynoxide (MIT/Apache-2.0, a DynamoDB emulator in Rust over SQLite; DynamoDB Local's licence is
 * not open source) as the local DynamoDB endpoint. Its tables live in one SQLite database under
 * `dynamoDbStateDir(dir)`: a write is committed before it is answered, so a restart (or a SIGKILL) finds
 * the tables as they were.
 */
export async function startDynamoDb({
  host,
  port,
  dir,
  log,
  startTimeoutMs,
  reset,
}: DynamoDbOptions): Promise<RunningDynamoDb> {
  const stateDir = dynamoDbStateDir(dir);
  return startEndpoint({
    service: 'dynamodb',
    host,
    port,
    what: 'DynamoDB (dynoxide)',
    portFlag: 'dynamodb-port',
    envVar: 'DYNAMODB_ENDPOINT',
    dir,
    file: 'dynoxide',
    log,
    prepare: () => prepareState(stateDir, reset === true, log),
    command: dynoxideBinary(),
    args: ['serve', '--host', host, '--port', String(port), '--db-path', join(stateDir, 'tables.sqlite')],
    marker: 'dynoxide',
    wait: waitForDynamoDb,
    startTimeoutMs,
  });
}

/** The tables' directory, emptied first on a reset. */
async function prepareState(stateDir: string, reset: boolean, log: Log): Promise<void> {
  if (reset) {
    await rm(stateDir, { recursive: true, force: true });
    log(`[dynamodb] reset: deleted the tables kept in ${stateDir}`);
  }
  await mkdir(stateDir, { recursive: true });
  // Before dynoxide the endpoint was moto, whose tables were a journal here: dynoxide cannot read it.
  if ((await readdir(stateDir)).some((name) => name.startsWith('journal-') || name === 'snapshot.pickle')) {
    log(
      `[dynamodb] ${stateDir} also holds the tables of the former moto endpoint, which dynoxide does not read; Kafka's offsets may be ahead of the tables: npm start -- --fresh starts both afresh`,
    );
  }
}

/** Resolves once the endpoint answers ListTables. */
export const waitForDynamoDb = (endpoint: string, wait: WaitOptions): Promise<void> =>
  waitForAwsEndpoint(
    'dynamodb',
    endpoint,
    new DynamoDBClient({ ...localDynamoDbConfig(endpoint), maxAttempts: 1 }),
    new ListTablesCommand({ Limit: 1 }),
    wait,
  );
