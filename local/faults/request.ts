/**
 * What a request to the local DynamoDB or SNS endpoint is about, read from its bytes: the service, the
 * operation, and the items (table and key attributes) or topic it touches. Pure: no I/O.
 *
 * DynamoDB speaks AWS JSON 1.0: the operation is the `X-Amz-Target` header (`DynamoDB_20120810.PutItem`), the
 * tables and keys are in the JSON body. SNS speaks AWS Query: a form-encoded body with `Action=Publish` and
 * `TopicArn`. Anything else (moto's SQS on the same port, a body that does not parse) is `other` and is never
 * matched by a rule, so it passes untouched.
 */

/** One item a request reads or writes: its table and its attributes as strings (`{ sku: 'SKU-MUG' }`). */
export interface TouchedItem {
  table: string;
  attributes: Record<string, string>;
}

export interface ParsedRequest {
  service: 'dynamodb' | 'sns' | 'other';
  operation: string;
  /** Every table the request names (a batch or transaction may name several). */
  tables: string[];
  /** DynamoDB: the items, in request order (for a transaction, one per `TransactItems` entry). */
  items: TouchedItem[];
  topicArn?: string;
  /** The region of the SigV4 credential scope, when the request is signed. */
  region?: string;
}

type Json = Record<string, unknown>;
const object = (value: unknown): Json => (value && typeof value === 'object' ? (value as Json) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** `arn:aws:dynamodb:us-east-1:123:table/orders` → `orders`; a plain name stays as it is. */
export const tableNameOf = (nameOrArn: string): string => /:table\/([^/]+)/.exec(nameOrArn)?.[1] ?? nameOrArn;

/** `{S: 'x'}` → 'x', `{N: '5'}` → '5', `{BOOL: true}` → 'true'; other types are not keys and are skipped. */
function attributesOf(item: unknown): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(object(item))) {
    const { S, N, BOOL } = object(value);
    const scalar =
      typeof (S ?? N) === 'string' ? (S ?? N) : typeof BOOL === 'boolean' ? String(BOOL) : undefined;
    if (typeof scalar === 'string') attributes[name] = scalar;
  }
  return attributes;
}

function dynamoDbItems(operation: string, body: Json): TouchedItem[] {
  const itemOf = (request: unknown): TouchedItem => {
    const { TableName, Key, Item } = object(request);
    return {
      table: typeof TableName === 'string' ? tableNameOf(TableName) : '',
      attributes: attributesOf(Key ?? Item),
    };
  };
  // TransactWriteItems, TransactGetItems: one per entry, so that the indexes are those of CancellationReasons.
  if (operation.startsWith('Transact'))
    return list(body.TransactItems).map((entry) => itemOf(Object.values(object(entry))[0]));
  if (operation.startsWith('Batch'))
    return Object.entries(object(body.RequestItems)).flatMap(([name, requests]) => {
      const keys = Array.isArray(requests)
        ? requests.map((r) => object(object(r).PutRequest).Item ?? object(object(r).DeleteRequest).Key)
        : list(object(requests).Keys);
      return keys.map((key) => ({ table: tableNameOf(name), attributes: attributesOf(key) }));
    });
  return typeof body.TableName === 'string' ? [itemOf(body)] : [];
}

export function parseRequest(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): ParsedRequest {
  const header = (name: string) => [headers[name]].flat()[0];
  // `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request`
  const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(header('authorization') ?? '')?.[1];
  const base = { tables: [], items: [], ...(region ? { region } : {}) };
  const target = header('x-amz-target');
  if (target !== undefined) {
    const operation = /^DynamoDB_20120810\.(\w+)$/.exec(target)?.[1];
    if (!operation) return { service: 'other', operation: target, ...base };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      return { service: 'dynamodb', operation, ...base };
    }
    const items = dynamoDbItems(operation, object(parsed));
    const tables = [...new Set(items.map((item) => item.table).filter(Boolean))];
    return { service: 'dynamodb', operation, ...base, tables, items };
  }
  if (!header('content-type')?.startsWith('application/x-www-form-urlencoded'))
    return { service: 'other', operation: '', ...base };
  const form = new URLSearchParams(body.toString('utf8'));
  const action = form.get('Action');
  // moto serves SQS on the same port; a Query-protocol SQS call is not SNS's.
  if (!action || form.has('QueueUrl') || form.has('QueueName'))
    return { service: 'other', operation: action ?? '', ...base };
  const topicArn = form.get('TopicArn') ?? form.get('TargetArn') ?? undefined;
  return { service: 'sns', operation: action, ...base, ...(topicArn ? { topicArn } : {}) };
}
