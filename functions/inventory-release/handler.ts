import { tableName } from '../shared/config.ts';
import { kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { dynamoOrders } from '../shared/orders/repository.ts';
import { releaseStep } from './step.ts';
import { dynamoRelease } from './stock-store.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`, the release transaction `stock-store.ts`.
const { logger, metrics } = observability('inventory-release');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => {
    const client = dynamoDbDocumentClient();
    return {
      step: releaseStep({
        orders: dynamoOrders(client, tableName('orders')),
        stock: dynamoRelease(client, { inventory: tableName('inventory'), orders: tableName('orders') }),
      }),
      deps: { produce },
    };
  },
});
