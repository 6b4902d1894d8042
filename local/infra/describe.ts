import type { LocalInfra } from './index.ts';
import type { ProvisionedChannel, ProvisionResult } from './provision.ts';

/** Where the local services are and what the manifest made in them: printed by `npm run infra` and `npm start`. */
export function describeInfra(
  infra: Pick<LocalInfra, 'kafkaBrokers' | 'dynamodbEndpoint' | 'snsEndpoint' | 'started' | 'logFiles'>,
  { topics, tables, channels = [] }: Omit<ProvisionResult, 'channels'> & { channels?: ProvisionedChannel[] },
): string[] {
  const origin = (started: boolean) => (started ? 'started here' : 'external');
  return [
    '',
    `Kafka     ${infra.kafkaBrokers.join(',')}  (${origin(infra.started.kafka)}${infra.logFiles.kafka ? `, log ${infra.logFiles.kafka}` : ''})`,
    `DynamoDB  ${infra.dynamodbEndpoint}  (${origin(infra.started.dynamodb)}${infra.logFiles.dynamodb ? `, log ${infra.logFiles.dynamodb}` : ''})`,
    `SNS       ${infra.snsEndpoint}  (${origin(infra.started.sns)}${infra.logFiles.sns ? `, log ${infra.logFiles.sns}` : ''})`,
    '',
    'Topics:',
    ...topics.map(
      (t) =>
        `  ${t.name.padEnd(22)} ${String(t.partitions).padStart(2)} partitions, retention ${t.retentionMs / 3_600_000} h  [${t.action}]`,
    ),
    'Tables:',
    ...tables.map(
      (t) =>
        `  ${t.physicalName.padEnd(30)} key ${t.partitionKey}${t.sortKey ? ` + ${t.sortKey}` : ''}${t.ttlAttribute ? `, TTL on ${t.ttlAttribute}` : ''}${t.indexes.length > 0 ? `, index ${t.indexes.join(', ')}` : ''}  [${t.action}]`,
    ),
    ...(channels.length > 0 ? ['Channels (SNS):'] : []),
    ...channels.map((c) => `  ${c.topicName.padEnd(30)} ${c.topicArn}  [${c.action}]`),
  ];
}
