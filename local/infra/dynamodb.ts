import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { localRegion } from '../runtime/lambda-context.ts';
import { InfraError } from './errors.ts';
import { answersHttp, LOCALHOST, type RunningService, startService } from './process.ts';

/**
 * Client settings for a local endpoint (dynoxide, moto): credentials it takes as they come, and the functions'
 * region (moto keeps topics per region: the provisioner, the functions and the tests have to agree).
 */
export const localClientConfig = (endpoint: string) => ({
  endpoint,
  region: localRegion(),
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 2,
});

export const localDynamoDbConfig: (endpoint: string) => DynamoDBClientConfig = localClientConfig;

export interface DynamoDbOptions {
  port: number;
  /** Holds the endpoint's log (`dynoxide.log`) and the tables (one SQLite database in `state/`). */
  dir: string;
  log: (line: string) => void;
  /** Start with no tables: the state kept in `dir` from earlier runs is deleted first. */
  reset?: boolean;
}

export type RunningDynamoDb = RunningService & { endpoint: string };

/** The npm package that carries dynoxide's binary for this machine (an optional dependency). */
const dynoxidePackage = `@dynoxide/${process.platform}-${process.arch}`;

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
      throw new InfraError('dynamodb', `DYNOXIDE_BIN names ${explicit}, which does not exist.`);
    }
    return explicit;
  }
  try {
    const manifest = createRequire(import.meta.url).resolve(`${dynoxidePackage}/package.json`);
    return join(dirname(manifest), process.platform === 'win32' ? 'dynoxide.exe' : 'dynoxide');
  } catch {
    throw new InfraError(
      'dynamodb',
      `dynoxide, the local DynamoDB endpoint, is not installed for ${process.platform}-${process.arch}: npm installs ${dynoxidePackage} as an optional dependency where it is published. Otherwise build release ${DYNOXIDE_VERSION} (${dynoxideBuildCommand}; \`dynoxide --version\` must say ${DYNOXIDE_VERSION}) and set DYNOXIDE_BIN to the binary.`,
    );
  }
}

/**
 * Starts dynoxide (MIT/Apache-2.0, a DynamoDB emulator in Rust over SQLite; DynamoDB Local's licence is
 * not open source) as the local DynamoDB endpoint. Its tables live in one SQLite database under
 * `<dir>/state`: a write is committed before it is answered, so a restart (or a SIGKILL) finds
 * the tables as they were.
 */
export async function startDynamoDb(options: DynamoDbOptions): Promise<RunningDynamoDb> {
  const { port, dir, log, reset } = options;
  const stateDir = join(dir, 'state');
  const endpoint = `http://${LOCALHOST}:${port}`;
  const running = await startService({
    service: 'dynamodb',
    dir,
    file: 'dynoxide',
    ports: [{ port, what: 'DynamoDB (dynoxide)' }],
    prepare: async () => {
      if (reset) {
        await rm(stateDir, { recursive: true, force: true });
        log(`[dynamodb] reset: deleted the tables kept in ${stateDir}`);
      }
      await mkdir(stateDir, { recursive: true });
    },
    command: dynoxideBinary(),
    args: [
      'serve',
      '--host',
      LOCALHOST,
      '--port',
      String(port),
      '--db-path',
      join(stateDir, 'tables.sqlite'),
    ],
    what: `DynamoDB (dynoxide) at ${endpoint}`,
    probe: answersHttp(endpoint),
  });
  return { ...running, endpoint };
}
