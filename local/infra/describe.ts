import { manifest } from '../../topology/manifest.ts';
import type { TableSpec } from '../../topology/types.ts';
import type { LocalInfra } from './index.ts';
import type { ProvisionResult } from './provision.ts';

/** Where the local services are and what the manifest made in them: printed by `npm run infra` and `npm start`. */
export function describeInfra(infra: LocalInfra, { topics, tables, channels }: ProvisionResult): string[] {
  const where = (name: string, at: string, service: keyof LocalInfra['started']) => {
    const log = infra.logFiles[service];
    return `${name.padEnd(10)}${at}  (${infra.started[service] ? 'started here' : 'external'}${log ? `, log ${log}` : ''})`;
  };
  return [
    '',
    where('Kafka', infra.kafkaBrokers.join(','), 'kafka'),
    where('DynamoDB', infra.dynamodbEndpoint, 'dynamodb'),
    where('SNS', infra.snsEndpoint, 'sns'),
    '',
    'Topics:',
    ...topics.map(
      (t) =>
        `  ${t.name.padEnd(22)} ${String(t.partitions).padStart(2)} partitions, retention ${Number(t.configs['retention.ms']) / 3_600_000} h  [${t.action}]`,
    ),
    'Tables:',
    ...tables.map(({ table, physicalName, action }) => {
      const spec: TableSpec = manifest.tables[table];
      const sortKey = spec.sortKey ? ` + ${spec.sortKey.name}` : '';
      const ttl = spec.ttlAttribute ? `, TTL on ${spec.ttlAttribute}` : '';
      const indexes = spec.indexes ? `, index ${Object.keys(spec.indexes).join(', ')}` : '';
      return `  ${physicalName.padEnd(30)} key ${spec.partitionKey.name}${sortKey}${ttl}${indexes}  [${action}]`;
    }),
    'Channels (SNS):',
    ...channels.map((c) => `  ${c.topicName.padEnd(30)} ${c.topicArn}  [${c.action}]`),
  ];
}
