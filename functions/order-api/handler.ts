import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { tableName } from '../shared/config.ts';
import { idempotencyStore } from '../shared/idempotency.ts';
import { produce } from '../shared/kafka/producer.ts';
import { onReset } from '../shared/lifecycle.ts';
import { flushMetrics, observability } from '../shared/observability.ts';
import { dynamoOrders } from '../shared/orders/repository.ts';
import { createOrderApi } from './api.ts';
import { dynamoCatalog } from './catalog.ts';
import { orderApiDocumentClient, orderApiDynamoDbClient, resetOrderApiClients } from './clients.ts';
import { dynamoNotifications } from './notifications.ts';

const { logger, metrics } = observability('order-api');
let api: ReturnType<typeof createOrderApi> | undefined;
onReset(() => {
  api = undefined;
  resetOrderApiClients();
});

export const handler = middy(async (event: APIGatewayProxyEvent, context: Context) => {
  api ??= createOrderApi(
    {
      orders: dynamoOrders(orderApiDocumentClient(), tableName('orders')),
      catalog: dynamoCatalog(orderApiDocumentClient(), tableName('inventory')),
      notifications: dynamoNotifications(orderApiDocumentClient(), tableName('notifications')),
      produce,
      persistenceStore: idempotencyStore(orderApiDynamoDbClient()),
    },
    { logger, metrics },
  );
  return api(event, context);
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));
