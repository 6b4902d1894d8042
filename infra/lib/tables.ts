import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { manifest, type TableName, tableNames } from '../../topology/manifest.ts';
import type { IndexSpec, KeySpec } from '../../topology/types.ts';

const attribute = (key: KeySpec): dynamodb.Attribute => ({
  name: key.name,
  type: key.type === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING,
});

const globalIndexes = (
  indexes: Readonly<Record<string, IndexSpec>>,
): dynamodb.GlobalSecondaryIndexPropsV2[] =>
  Object.entries(indexes).map(([indexName, index]) => ({
    indexName,
    partitionKey: attribute(index.partitionKey),
    ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
    projectionType:
      index.projection === 'all' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
  }));

export interface TablesProps {
  /** Destroy the tables with the stack. Default (false): retained, and protected from deletion. */
  destroyData: boolean;
}

/**
 * One table per manifest table: on-demand, point-in-time recovery, encrypted with the AWS managed key,
 * TTL where the manifest names an attribute, and the manifest's global secondary indexes. CloudFormation names them; functions get the names
 * through `TABLE_<NAME>` variables.
 */
export class Tables extends Construct {
  readonly byName: Record<TableName, dynamodb.TableV2>;

  constructor(scope: Construct, id: string, props: TablesProps) {
    super(scope, id);
    const entries = tableNames.map((name) => {
      const spec = manifest.tables[name];
      const table = new dynamodb.TableV2(this, pascalCase(name), {
        partitionKey: attribute(spec.partitionKey),
        ...('sortKey' in spec ? { sortKey: attribute(spec.sortKey) } : {}),
        ...('ttlAttribute' in spec ? { timeToLiveAttribute: spec.ttlAttribute } : {}),
        ...('indexes' in spec ? { globalSecondaryIndexes: globalIndexes(spec.indexes) } : {}),
        billing: dynamodb.Billing.onDemand(),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
        removalPolicy: props.destroyData ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
        deletionProtection: !props.destroyData,
      });
      return [name, table] as const;
    });
    this.byName = Object.fromEntries(entries) as Record<TableName, dynamodb.TableV2>;
  }
}

/** `order-api` → `OrderApi`: construct ids (and so logical ids) from manifest names. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
