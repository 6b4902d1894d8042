import {
  type MessageAttributeValue,
  PublishCommand,
  type PublishCommandInput,
  SNSClient,
  type SNSClientConfig,
} from '@aws-sdk/client-sns';
import { channelEnvVar } from '../../topology/manifest.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { ConfigError } from '../shared/config.ts';
import { onReset } from '../shared/lifecycle.ts';
import { captureAwsClient } from '../shared/tracing.ts';
import { logSend, type OutgoingMessage, type Send } from './delivery.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The message attributes every message carries, so subscribers can filter (subscription filter policies). */
export const MESSAGE_ATTRIBUTES = ['customerId', 'kind', 'orderId', 'notificationId'] as const;
export type MessageAttributeName = (typeof MESSAGE_ATTRIBUTES)[number];

/** SNS's limit on a subject: UTF-8 text of fewer than 100 characters, no line breaks or control characters. */
const SUBJECT_MAX = 99;

/** The subject as SNS accepts it: a subject SNS refused would fail every retry of the notification. */
export function snsSubject(subject: string): string {
  const chars = [
    ...subject
      .replace(/\s+/gu, ' ')
      .replace(/\p{Cc}/gu, '')
      .trim(),
  ];
  const text = chars.length > SUBJECT_MAX ? `${chars.slice(0, SUBJECT_MAX - 1).join('')}…` : chars.join('');
  return text.length > 0 ? text : 'Order notification';
}

const stringAttribute = (value: string): MessageAttributeValue => ({
  DataType: 'String',
  StringValue: value,
});

/**
 * The Publish request of one notification: subject and text as the step wrote them (they name the order
 * and its facts, never the address), the ids and kind as String attributes. A standard topic: a FIFO
 * topic's deduplication lasts five minutes and it delivers to SQS only (no e-mail); the send is
 * deduplicated for 15 days by the idempotency guard instead, and `notificationId` lets a subscriber drop
 * the rare duplicate SNS itself may deliver.
 */
export function publishInput(topicArn: string, message: OutgoingMessage): PublishCommandInput {
  const attributes: Record<MessageAttributeName, string> = {
    customerId: message.customerId,
    kind: message.kind,
    orderId: message.orderId,
    notificationId: message.notificationId,
  };
  return {
    TopicArn: topicArn,
    Subject: snsSubject(message.subject),
    Message: message.message,
    MessageAttributes: Object.fromEntries(
      Object.entries(attributes).map(([name, value]) => [name, stringAttribute(value)]),
    ),
  };
}

/** Publishes each message to the topic. Throws on failure: the batch is retried, the guard sends once. */
export function snsSend(client: Pick<SNSClient, 'send'>, topicArn: string): Send {
  return async (message, logger) => {
    const { MessageId } = await client.send(new PublishCommand(publishInput(topicArn, message)));
    // Ids and kind only, as logSend: the text and the customer id may name the customer.
    logger.info('notification published', {
      notificationId: message.notificationId,
      kind: message.kind,
      snsMessageId: MessageId,
    });
  };
}

export type NotificationChannel = { kind: 'log' } | { kind: 'sns'; topicArn: string };

const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/**
 * The channel the environment configures. `sns` unless `NOTIFICATION_CHANNEL=log` says otherwise, and
 * then the topic ARN is required: a deployment without it fails loudly instead of sending nothing.
 */
export function readNotificationChannel(env: Env): NotificationChannel {
  const mode = env[RuntimeEnv.notificationChannel]?.trim() || 'sns';
  if (mode === 'log') return { kind: 'log' };
  if (mode !== 'sns') {
    throw new ConfigError(
      `environment variable ${RuntimeEnv.notificationChannel} must be sns or log, not ${mode}`,
    );
  }
  const variable = channelEnvVar('notifications');
  const topicArn = env[variable]?.trim();
  if (!topicArn) {
    throw new ConfigError(
      `environment variable ${variable} is not set (the notifications topic; ${RuntimeEnv.notificationChannel}=log logs instead)`,
    );
  }
  if (!TOPIC_ARN.test(topicArn))
    throw new ConfigError(`environment variable ${variable} is not an SNS topic ARN`);
  return { kind: 'sns', topicArn };
}

/**
 * Client settings. On AWS nothing is set (region and credentials from Lambda). Locally `SNS_ENDPOINT` is
 * moto, which accepts any credentials, so dummy ones are used there and only there.
 */
export function snsClientConfig(env: Env): SNSClientConfig {
  const endpoint = env[RuntimeEnv.snsEndpoint]?.trim();
  if (!endpoint) return {};
  if (!URL.canParse(endpoint)) {
    throw new ConfigError(`environment variable ${RuntimeEnv.snsEndpoint} is not a URL: ${endpoint}`);
  }
  return {
    endpoint,
    region: env.AWS_REGION || 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

let client: SNSClient | undefined;
onReset(() => {
  client?.destroy();
  client = undefined;
});

/** The send the environment configures (see {@link readNotificationChannel}). */
export function configuredSend(env: Env = process.env): Send {
  const channel = readNotificationChannel(env);
  if (channel.kind === 'log') return logSend;
  client ??= captureAwsClient(new SNSClient(snsClientConfig(env)));
  return snsSend(client, channel.topicArn);
}
