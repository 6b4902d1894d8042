import { tableName } from '../shared/config.ts';
import { stepHandler } from '../shared/step-handler.ts';
import { releaseStep } from './step.ts';
import { dynamoRelease } from './stock-store.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`, the release transaction `stock-store.ts`.
export const handler = stepHandler('inventory-release', ({ client, orders }) =>
  releaseStep({
    orders,
    stock: dynamoRelease(client, { inventory: tableName('inventory'), orders: tableName('orders') }),
  }),
);
