import { join } from 'node:path';
import type { SNSClientConfig } from '@aws-sdk/client-sns';
import { type ChannelName, localTopicName } from '../../topology/manifest.ts';
import { ensurePythonTools, projectRoot } from '../python/venv.ts';
import { localRegion } from '../runtime/lambda-context.ts';
import { localClientConfig } from './dynamodb.ts';
import { answersHttp, LOCALHOST, type RunningService, startService } from './process.ts';

/**
 * The account of every ARN moto hands out, unless its server is told otherwise (`MOTO_ACCOUNT_ID`): the local
 * runtime gives the functions the topic ARN before anything asks moto, and provisioning checks that moto agrees.
 */
const MOTO_ACCOUNT_ID = '123456789012';

/** Client settings for moto's SNS (and SQS, which moto serves on the same port). */
export const localSnsConfig: (endpoint: string) => SNSClientConfig = localClientConfig;

/** The ARN of a channel's local topic, `<prefix>-<channel>` in moto's account and the local region. */
export const localTopicArn = (channel: ChannelName, prefix?: string, region = localRegion()): string =>
  `arn:aws:sns:${region}:${MOTO_ACCOUNT_ID}:${localTopicName(channel, prefix)}`;

export type RunningSns = RunningService & { endpoint: string };

/**
 * Starts moto's server as the local SNS endpoint (local/python/moto_sns_server.py). Topics live in memory:
 * provisioning creates them at every start.
 */
export async function startSns(options: {
  port: number;
  /** Holds moto's log. */
  dir: string;
  log: (line: string) => void;
}): Promise<RunningSns> {
  const { port } = options;
  const python = (await ensurePythonTools(undefined, options.log)).bin('python');
  const endpoint = `http://${LOCALHOST}:${port}`;
  const running = await startService({
    ...options,
    service: 'sns',
    file: 'moto',
    ports: [{ port, what: 'SNS (moto server)' }],
    command: python,
    args: [join(projectRoot, 'local', 'python', 'moto_sns_server.py'), '-H', LOCALHOST, '-p', String(port)],
    what: `SNS (moto server) at ${endpoint}`,
    probe: answersHttp(endpoint),
  });
  return { ...running, endpoint };
}
