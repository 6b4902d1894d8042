import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, resetConfig } from './config.ts';
import { stepWiring } from './step-handler.ts';

const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

describe('a step’s wiring', () => {
  afterEach(() => {
    delete process.env.TABLE_ORDERS;
    resetConfig();
  });

  it('needs no orders table until the step asks for it (kpis has none)', () => {
    delete process.env.TABLE_ORDERS;
    resetConfig();
    const wiring = stepWiring(client);
    expect(wiring.client).toBe(client);
    expect(() => wiring.orders).toThrow(ConfigError);
    expect(() => wiring.orders).toThrow(/TABLE_ORDERS/);
  });

  it('builds the orders table once, from TABLE_ORDERS', () => {
    process.env.TABLE_ORDERS = 'run-1-orders';
    resetConfig();
    const wiring = stepWiring(client);
    expect(wiring.orders).toBe(wiring.orders);
  });
});
