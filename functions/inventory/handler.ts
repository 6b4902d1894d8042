import { tableName } from '../shared/config.ts';
import { kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { dynamoOrders } from '../shared/orders/repository.ts';
import { inventoryStep } from './step.ts';
import { dynamoStock } from './stock-store.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`, the reservation transaction `stock-store.ts`.
const { logger, metrics } = observability('inventory');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => {
    const client = dynamoDbDocumentClient();
    const orders = dynamoOrders(client, tableName('orders'));
    const stock = dynamoStock(
      client,
      { inventory: tableName('inventory'), orders: tableName('orders') },
      orders,
    );
    return { step: inventoryStep({ orders, stock }), deps: { produce } };
  },
});
