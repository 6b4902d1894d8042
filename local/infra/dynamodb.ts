import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, type DynamoDBClientConfig, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ensurePythonTools, PythonToolsError, projectRoot } from '../python/venv.ts';
import { InfraError } from './errors.ts';
import { assertPortFree } from './ports.ts';
import { killStaleProcess, logTail, type ManagedProcess, spawnManaged } from './process.ts';

const motoServerScript = join(projectRoot, 'local', 'python', 'moto_server_serial.py');

type Log = (line: string) => void;

/**
 * The region every local client must use: moto keeps tables per region, so the provisioner, the
 * functions and the tests have to agree. `AWS_REGION` wins when set.
 */
export const localRegion = (): string =>
  process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';

/** Client settings for the local DynamoDB endpoint; moto accepts any credentials. */
export function localDynamoDbConfig(endpoint: string): DynamoDBClientConfig {
  return {
    endpoint,
    region: localRegion(),
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 2,
  };
}

export interface DynamoDbOptions {
  host: string;
  port: number;
  /** Holds moto's log (`moto.log`), pid file and the tables' state (`state/`, see `dynamoDbStateDir`). */
  dir: string;
  log: Log;
  startTimeoutMs?: number;
  /** Start with no tables: the state kept in `dir` from earlier runs is deleted first. */
  reset?: boolean;
}

/**
 * Where the local endpoint keeps its tables between runs: a journal of the writes and snapshots
 * (local/python/dynamodb_journal.py). Deleting it starts empty.
 */
export const dynamoDbStateDir = (dir: string): string => join(dir, 'state');

export interface RunningDynamoDb {
  endpoint: string;
  logFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts moto's server as the local DynamoDB endpoint (DynamoDB Local's licence is not open source).
 * moto keeps its tables in memory; the wrapper journals every write to `dynamoDbStateDir(dir)` before
 * answering and replays it before serving, so a restart (or a crash) finds the tables as they were.
 */
export async function startDynamoDb({
  host,
  port,
  dir,
  log,
  startTimeoutMs,
  reset,
}: DynamoDbOptions): Promise<RunningDynamoDb> {
  let python: string;
  try {
    const tools = await ensurePythonTools(undefined, log);
    python = tools.bin('python');
  } catch (error) {
    if (error instanceof PythonToolsError)
      throw new InfraError('python', 'start-failed', error.message, { cause: error });
    throw error;
  }
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, 'moto.pid');
  await killStaleProcess(pidFile, (line) => log(`[dynamodb] ${line}`));
  await assertPortFree(
    port,
    host,
    'DynamoDB (moto server)',
    'dynamodb',
    'Stop whatever holds it, choose another port (npm run infra -- --dynamodb-port <port>), or set DYNAMODB_ENDPOINT to use an endpoint that is already running.',
  );
  const stateDir = dynamoDbStateDir(dir);
  if (reset) {
    await rm(stateDir, { recursive: true, force: true });
    log(`[dynamodb] reset: deleted the tables kept in ${stateDir}`);
  }
  const logFile = join(dir, 'moto.log');
  const child = await spawnManaged({
    name: 'dynamodb',
    // moto's server, one request at a time: its threaded mode loses concurrent DynamoDB writes (see the script).
    command: python,
    args: [motoServerScript, '-H', host, '-p', String(port), '--state-dir', stateDir],
    cwd: dir,
    logFile,
    pidFile,
    marker: 'moto_server',
  });
  const endpoint = `http://${host}:${port}`;
  try {
    await waitForDynamoDb(endpoint, { timeoutMs: startTimeoutMs ?? 60_000, process: child });
  } catch (error) {
    await child.stop(5_000);
    if (error instanceof InfraError)
      error.message += `\nLast lines of ${logFile}:\n${await logTail(logFile)}`;
    throw error;
  }
  return { endpoint, logFile, process: child, stop: () => child.stop() };
}

/** Resolves once the endpoint answers ListTables. */
export async function waitForDynamoDb(
  endpoint: string,
  { timeoutMs, process: child }: { timeoutMs: number; process?: ManagedProcess },
): Promise<void> {
  const client = new DynamoDBClient({ ...localDynamoDbConfig(endpoint), maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  try {
    while (Date.now() < deadline) {
      if (child?.hasExited()) {
        const { code, signal } = await child.exited;
        throw new InfraError(
          'dynamodb',
          'start-failed',
          `the moto server exited during startup (code ${code}, signal ${signal}).`,
        );
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(3_000) });
        return;
      } catch (error) {
        lastError = error;
      }
      await sleep(300);
    }
  } finally {
    client.destroy();
  }
  throw new InfraError(
    'dynamodb',
    'timeout',
    `DynamoDB at ${endpoint} did not answer within ${Math.round(timeoutMs / 1000)} s${lastError instanceof Error ? ` (last error: ${lastError.message})` : ''}.`,
  );
}
