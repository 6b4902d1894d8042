import { tableName } from '../shared/config.ts';
import { kafkaConsumerHandler } from '../shared/consumer.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { produce } from '../shared/kafka/producer.ts';
import { observability } from '../shared/observability.ts';
import { dynamoOrders } from '../shared/orders/repository.ts';
import { shipperStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`.
const { logger, metrics } = observability('shipper');

export const handler = kafkaConsumerHandler({
  logger,
  metrics,
  setup: () => ({
    step: shipperStep({ orders: dynamoOrders(dynamoDbDocumentClient(), tableName('orders')) }),
    deps: { produce },
  }),
});
