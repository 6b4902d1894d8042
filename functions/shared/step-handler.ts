import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StepName } from '../../events/envelope.ts';
import type { TopicName } from '../../events/topics.ts';
import { tableName } from './config.ts';
import { kafkaConsumerHandler } from './consumer.ts';
import { dynamoDbDocumentClient } from './dynamodb.ts';
import { produce } from './kafka/producer.ts';
import { observability } from './observability.ts';
import { dynamoOrders, type OrdersPort } from './orders/repository.ts';
import type { ConsumerStep } from './step-types.ts';

/** What a step is built with: the execution environment's DynamoDB document client, the orders table on it. */
export interface StepWiring {
  readonly client: DynamoDBDocumentClient;
  readonly orders: OrdersPort;
}

/**
 * The wiring on `client`. The orders table is read from the environment only when a step asks for it: kpis
 * has no orders table (the manifest gives it none), so it must never need `TABLE_ORDERS`.
 */
export function stepWiring(client: DynamoDBDocumentClient): StepWiring {
  let orders: OrdersPort | undefined;
  return {
    client,
    get orders() {
      orders ??= dynamoOrders(client, tableName('orders'));
      return orders;
    },
  };
}

/**
 * The Lambda handler of one Kafka-triggered step, wired the one way every step is: its Powertools logger
 * and metrics named after it, the shared producer, and the step built on the first invocation (so a
 * missing environment variable fails there, loudly) from the shared client and orders table.
 */
export function stepHandler<T extends TopicName>(
  name: StepName,
  build: (wiring: StepWiring) => ConsumerStep<T>,
) {
  const { logger, metrics } = observability(name);
  return kafkaConsumerHandler({
    logger,
    metrics,
    setup: () => ({ step: build(stepWiring(dynamoDbDocumentClient())), deps: { produce } }),
  });
}
