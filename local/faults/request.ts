/**
 * What a request to the local DynamoDB or SNS endpoint is about, read from its bytes: the service, the
 * operation, and the items (table and key attributes) or topic it touches. Pure: no I/O.
 *
 * DynamoDB speaks AWS JSON 1.0: the operation is the `X-Amz-Target` header (`DynamoDB_20120810.PutItem`), the
 * tables and keys are in the JSON body. SNS speaks AWS Query: a form-encoded body with `Action=Publish` and
 * `TopicArn`. Anything else (moto's SQS on the same port, a body that does not parse) is `other` and is never
 * matched by a rule, so it passes untouched.
 */

export type Service = 'dynamodb' | 'sns' | 'other';

/** One item a request reads or writes: its table and its attributes as strings (`{ sku: 'SKU-MUG' }`). */
export interface TouchedItem {
  table: string;
  attributes: Record<string, string>;
}

export interface ParsedRequest {
  service: Service;
  operation: string;
  /** Every table the request names (a batch or transaction may name several). */
  tables: string[];
  /** DynamoDB: the items, in request order (for a transaction, one per `TransactItems` entry). */
  items: TouchedItem[];
  /** SNS: the topic's ARN. */
  topicArn?: string;
  /** The region of the SigV4 credential scope, when the request is signed. */
  region?: string;
}

const DYNAMODB_TARGET = /^DynamoDB_20120810\.(\w+)$/;

/** `arn:aws:dynamodb:us-east-1:123:table/orders` → `orders`; a plain name stays as it is. */
export function tableNameOf(nameOrArn: string): string {
  const match = /:table\/([^/]+)/.exec(nameOrArn);
  return match ? (match[1] as string) : nameOrArn;
}

/** `{S: 'x'}` → 'x', `{N: '5'}` → '5', `{BOOL: true}` → 'true'; other types are not keys and are skipped. */
function scalarOf(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const [type, inner] = Object.entries(value)[0] ?? [];
  if ((type === 'S' || type === 'N') && typeof inner === 'string') return inner;
  if (type === 'BOOL' && typeof inner === 'boolean') return String(inner);
  return undefined;
}

function attributesOf(item: unknown): Record<string, string> {
  const attributes: Record<string, string> = {};
  if (!item || typeof item !== 'object') return attributes;
  for (const [name, value] of Object.entries(item)) {
    const scalar = scalarOf(value);
    if (scalar !== undefined) attributes[name] = scalar;
  }
  return attributes;
}

interface TableRequest {
  TableName?: unknown;
  Key?: unknown;
  Item?: unknown;
}

function itemOf(request: TableRequest | undefined): TouchedItem | undefined {
  if (!request || typeof request.TableName !== 'string') return undefined;
  return { table: tableNameOf(request.TableName), attributes: attributesOf(request.Key ?? request.Item) };
}

function dynamoDbItems(operation: string, body: Record<string, unknown>): TouchedItem[] {
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const entries = Array.isArray(body.TransactItems) ? body.TransactItems : [];
    // One per entry, so that the indexes are those of CancellationReasons.
    return entries.map((entry: Record<string, TableRequest>) => {
      const action = Object.values(entry ?? {})[0];
      return itemOf(action) ?? { table: '', attributes: {} };
    });
  }
  if (operation === 'BatchWriteItem' || operation === 'BatchGetItem') {
    const items: TouchedItem[] = [];
    for (const [name, requests] of Object.entries((body.RequestItems as Record<string, unknown>) ?? {})) {
      const table = tableNameOf(name);
      const list: unknown[] = Array.isArray(requests)
        ? requests.map((r: { PutRequest?: { Item?: unknown }; DeleteRequest?: { Key?: unknown } }) =>
            r?.PutRequest ? r.PutRequest.Item : r?.DeleteRequest?.Key,
          )
        : ((requests as { Keys?: unknown[] })?.Keys ?? []);
      for (const key of list) items.push({ table, attributes: attributesOf(key) });
    }
    return items;
  }
  const item = itemOf(body as TableRequest);
  return item ? [item] : [];
}

/** The region of `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request`. */
export function regionOf(authorization: string | undefined): string | undefined {
  return authorization ? /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(authorization)?.[1] : undefined;
}

export function parseRequest(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): ParsedRequest {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const region = regionOf(header('authorization'));
  const base = { tables: [], items: [], ...(region ? { region } : {}) };
  const target = header('x-amz-target');
  if (target !== undefined) {
    const operation = DYNAMODB_TARGET.exec(target)?.[1];
    if (!operation) return { service: 'other', operation: target, ...base };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      return { service: 'dynamodb', operation, ...base };
    }
    const items =
      parsed && typeof parsed === 'object' ? dynamoDbItems(operation, parsed as Record<string, unknown>) : [];
    const tables = [...new Set(items.map((item) => item.table).filter(Boolean))];
    return { service: 'dynamodb', operation, ...base, tables, items };
  }
  const contentType = header('content-type') ?? '';
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(body.toString('utf8'));
    const action = form.get('Action');
    // moto serves SQS on the same port; a Query-protocol SQS call is not SNS's.
    if (!action || form.has('QueueUrl') || form.has('QueueName'))
      return { service: 'other', operation: action ?? '', ...base };
    const topicArn = form.get('TopicArn') ?? form.get('TargetArn') ?? undefined;
    return { service: 'sns', operation: action, ...base, ...(topicArn ? { topicArn } : {}) };
  }
  return { service: 'other', operation: '', ...base };
}
