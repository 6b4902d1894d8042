/**
 * The endpoints of the integration run's Kafka broker, DynamoDB and SNS (started or found by
 * test/global-setup.ts). Use these instead of hard-coded ports.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { localDynamoDbConfig } from '../../local/infra/dynamodb.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';

export interface TestInfra {
  /** Bootstrap brokers, e.g. `['127.0.0.1:40123']`. */
  kafkaBrokers: string[];
  /** e.g. `http://127.0.0.1:40125`. */
  dynamodbEndpoint: string;
  /** moto's SNS (and SQS), e.g. `http://127.0.0.1:40126`. */
  snsEndpoint: string;
}

export function testInfra(): TestInfra {
  const brokers = inject('kafkaBrokers') ?? process.env[RuntimeEnv.kafkaBrokers];
  const dynamodbEndpoint = inject('dynamodbEndpoint') ?? process.env[RuntimeEnv.dynamodbEndpoint];
  const snsEndpoint = inject('snsEndpoint') ?? process.env[RuntimeEnv.snsEndpoint];
  if (!brokers || !dynamodbEndpoint || !snsEndpoint) {
    throw new Error(
      'no Kafka/DynamoDB/SNS endpoints: run integration tests through vitest\'s "integration" project (npm test), whose globalSetup starts them',
    );
  }
  return { kafkaBrokers: brokers.split(','), dynamodbEndpoint, snsEndpoint };
}

/** A DynamoDB client for the test endpoint, in the region the provisioner used. */
export function testDynamoDbClient(): DynamoDBClient {
  return new DynamoDBClient(localDynamoDbConfig(testInfra().dynamodbEndpoint));
}
