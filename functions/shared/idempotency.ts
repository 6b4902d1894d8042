import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { tableName } from './config.ts';
import { dynamoDbClient } from './dynamodb.ts';

/**
 * The Powertools idempotency store on the idempotency table. Each use gets its own instance: a
 * persistence layer keeps the configuration of the first function it serves.
 */
export function idempotencyStore(): DynamoDBPersistenceLayer {
  return new DynamoDBPersistenceLayer({
    tableName: tableName('idempotency'),
    keyAttr: 'id',
    expiryAttr: 'expiration',
    awsSdkV3Client: dynamoDbClient(),
  });
}

/** Records stay deduplicated as long as the topics keep them (168 h), so a late redelivery is still caught. */
export const RECORD_IDEMPOTENCY_SECONDS = 7 * 24 * 60 * 60;
