import { tableName } from '../shared/config.ts';
import { stepHandler } from '../shared/step-handler.ts';
import { inventoryStep } from './step.ts';
import { dynamoStock } from './stock-store.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`, the reservation transaction `stock-store.ts`.
export const handler = stepHandler('inventory', ({ client, orders }) =>
  inventoryStep({
    orders,
    stock: dynamoStock(client, { inventory: tableName('inventory'), orders: tableName('orders') }, orders),
  }),
);
