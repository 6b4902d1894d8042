import type { SNSClientConfig } from '@aws-sdk/client-sns';
import { type ChannelName, localTopicName } from '../../topology/manifest.ts';
import { localRegion } from './dynamodb.ts';

/**
 * The account of every ARN moto hands out, unless its server is told otherwise (`MOTO_ACCOUNT_ID`): the
 * local runtime gives the functions the topic ARN before anything asks moto, and provisioning checks that
 * moto agrees.
 */
export const MOTO_ACCOUNT_ID = '123456789012';

/** Client settings for moto's SNS (the DynamoDB endpoint's port: moto serves every service there). */
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
