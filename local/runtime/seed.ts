import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type CatalogEntry, catalog, seedInventory } from '../../functions/shared/catalog.ts';
import { localTableName } from '../../topology/index.ts';
import { localDynamoDbConfig } from '../infra/index.ts';

/** Puts the demo catalog's stock into the local inventory table (SKUs already there are kept as they are). */
export async function seedDemoInventory(
  dynamodbEndpoint: string,
  tablePrefix?: string,
  entries: readonly CatalogEntry[] = catalog,
): Promise<{ seeded: string[]; existing: string[] }> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(dynamodbEndpoint)));
  try {
    return await seedInventory(client, localTableName('inventory', tablePrefix), entries);
  } finally {
    client.destroy();
  }
}
