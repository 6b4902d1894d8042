import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { catalog, type StockItem, stockItemOf } from '../../functions/shared/catalog.ts';

/** A stock item in DynamoDB's attribute-value JSON (every field is a string or a number). */
export function stockAttributes(item: StockItem): Record<string, { S: string } | { N: string }> {
  return Object.fromEntries(
    Object.entries(item).map(([key, value]) => [
      key,
      typeof value === 'number' ? { N: String(value) } : { S: value },
    ]),
  );
}

/**
 * Stocks the demo catalog (functions/shared/catalog.ts) into the inventory table once, when the stack
 * is created, as the local runtime does at start. Never on update: stock that orders consumed is kept.
 */
export class InventorySeed extends Construct {
  constructor(scope: Construct, id: string, props: { table: dynamodb.ITableV2 }) {
    super(scope, id);
    new cr.AwsCustomResource(this, 'Seed', {
      onCreate: {
        service: 'DynamoDB',
        action: 'BatchWriteItem',
        parameters: {
          RequestItems: {
            [props.table.tableName]: catalog.map((entry) => ({
              PutRequest: { Item: stockAttributes(stockItemOf(entry)) },
            })),
          },
        },
        physicalResourceId: cr.PhysicalResourceId.of('inventory-catalog-seed'),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['dynamodb:BatchWriteItem'], resources: [props.table.tableArn] }),
      ]),
      installLatestAwsSdk: false,
    });
  }
}
