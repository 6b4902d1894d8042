import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ListTopicsCommand, SNSClient, type SNSClientConfig } from '@aws-sdk/client-sns';
import { type ChannelName, localTopicName } from '../../topology/manifest.ts';
import { ensurePythonTools, PythonToolsError, projectRoot } from '../python/venv.ts';
import { localRegion } from './dynamodb.ts';
import { InfraError } from './errors.ts';
import { assertPortFree } from './ports.ts';
import {
  killStaleProcess,
  type ManagedProcess,
  readyOrStopped,
  spawnManaged,
  waitForAwsEndpoint,
} from './process.ts';

const motoServerScript = join(projectRoot, 'local', 'python', 'moto_sns_server.py');

/**
 * The account of every ARN moto hands out, unless its server is told otherwise (`MOTO_ACCOUNT_ID`): the
 * local runtime gives the functions the topic ARN before anything asks moto, and provisioning checks that
 * moto agrees.
 */
export const MOTO_ACCOUNT_ID = '123456789012';

/** Client settings for moto's SNS (and SQS, which moto serves on the same port). */
export function localSnsConfig(endpoint: string): SNSClientConfig {
  return {
    endpoint,
    region: localRegion(),
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 2,
  };
}

/** The ARN of a channel's local topic, `<prefix>-<channel>` in moto's account and the local region. */
export const localTopicArn = (channel: ChannelName, prefix?: string, region = localRegion()): string =>
  `arn:aws:sns:${region}:${MOTO_ACCOUNT_ID}:${localTopicName(channel, prefix)}`;

export interface RunningSns {
  endpoint: string;
  logFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts moto's server as the local SNS endpoint (local/python/moto_sns_server.py). Topics live in
 * memory: provisioning creates them at every start.
 */
export async function startSns(options: {
  host: string;
  port: number;
  /** Holds moto's log and pid file. */
  dir: string;
  log: (line: string) => void;
  startTimeoutMs?: number;
}): Promise<RunningSns> {
  const { host, port, dir, log } = options;
  let python: string;
  try {
    python = (await ensurePythonTools(undefined, log)).bin('python');
  } catch (error) {
    if (error instanceof PythonToolsError)
      throw new InfraError('python', 'start-failed', error.message, { cause: error });
    throw error;
  }
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, 'moto.pid');
  await killStaleProcess(pidFile, (line) => log(`[sns] ${line}`));
  await assertPortFree(
    port,
    host,
    'SNS (moto server)',
    'sns',
    'Stop whatever holds it, choose another port (npm run infra -- --sns-port <port>), or set SNS_ENDPOINT to use an endpoint that is already running.',
  );
  const logFile = join(dir, 'moto.log');
  const child = await spawnManaged({
    name: 'sns',
    command: python,
    args: [motoServerScript, '-H', host, '-p', String(port)],
    cwd: dir,
    logFile,
    pidFile,
    marker: 'moto_sns_server',
  });
  const endpoint = `http://${host}:${port}`;
  await readyOrStopped(
    child,
    logFile,
    waitForSns(endpoint, { timeoutMs: options.startTimeoutMs ?? 60_000, process: child }),
  );
  return { endpoint, logFile, process: child, stop: () => child.stop() };
}

/** Resolves once the endpoint answers ListTopics. */
export async function waitForSns(
  endpoint: string,
  { timeoutMs, process: child }: { timeoutMs: number; process?: ManagedProcess },
): Promise<void> {
  await waitForAwsEndpoint(
    new SNSClient({ ...localSnsConfig(endpoint), maxAttempts: 1 }),
    (client, abortSignal) => client.send(new ListTopicsCommand({}), { abortSignal }),
    { service: 'sns', what: `SNS at ${endpoint}`, processName: 'the moto server', timeoutMs, process: child },
  );
}
