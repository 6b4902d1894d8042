import { join } from 'node:path';
import { ListTopicsCommand, SNSClient, type SNSClientConfig } from '@aws-sdk/client-sns';
import { type ChannelName, localTopicName } from '../../topology/manifest.ts';
import { ensurePythonTools, PythonToolsError, projectRoot } from '../python/venv.ts';
import { localClientConfig, localRegion } from './dynamodb.ts';
import { InfraError } from './errors.ts';
import { type RunningService, startEndpoint, type WaitOptions, waitForAwsEndpoint } from './process.ts';

const motoServerScript = join(projectRoot, 'local', 'python', 'moto_sns_server.py');

/**
 * The account of every ARN moto hands out, unless its server is told otherwise (`MOTO_ACCOUNT_ID`): the
 * local runtime gives the functions the topic ARN before anything asks moto, and provisioning checks that
 * moto agrees.
 */
export const MOTO_ACCOUNT_ID = '123456789012';

/** Client settings for moto's SNS (and SQS, which moto serves on the same port). */
export const localSnsConfig: (endpoint: string) => SNSClientConfig = localClientConfig;

/** The ARN of a channel's local topic, `<prefix>-<channel>` in moto's account and the local region. */
export const localTopicArn = (channel: ChannelName, prefix?: string, region = localRegion()): string =>
  `arn:aws:sns:${region}:${MOTO_ACCOUNT_ID}:${localTopicName(channel, prefix)}`;

export type RunningSns = RunningService & { endpoint: string };

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
  return startEndpoint({
    service: 'sns',
    host,
    port,
    what: 'SNS (moto server)',
    portFlag: 'sns-port',
    envVar: 'SNS_ENDPOINT',
    dir,
    file: 'moto',
    log,
    command: python,
    args: [motoServerScript, '-H', host, '-p', String(port)],
    marker: 'moto_sns_server',
    wait: waitForSns,
    startTimeoutMs: options.startTimeoutMs,
  });
}

/** Resolves once the endpoint answers ListTopics. */
export const waitForSns = (endpoint: string, wait: WaitOptions): Promise<void> =>
  waitForAwsEndpoint(
    'sns',
    endpoint,
    new SNSClient({ ...localSnsConfig(endpoint), maxAttempts: 1 }),
    new ListTopicsCommand({}),
    wait,
  );
