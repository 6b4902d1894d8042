/**
 * DynamoDB on-demand request units of the calls a run makes. The local endpoint (dynoxide) reports
 * `ConsumedCapacity` as DynamoDB does (captured against AWS, indexes included), and the bench asks every
 * call for it (`ReturnConsumedCapacity: INDEXES`). A call that fails reports nothing, yet a refused
 * condition still costs its units: those are computed from the items, with the DynamoDB developer guide's
 * rules ("Read/write capacity mode", "Item sizes and formats"): a write costs 1 WRU per started KB of the
 * larger of the item before and after it; a strongly consistent read 1 RRU per started 4 KB (an absent
 * item: 1), an eventually consistent one half, a Query/Scan rounds the sum of its items; transactional
 * reads and writes (ConditionCheck included) twice as much. Item sizes: attribute names count, strings and
 * binaries by their bytes, numbers (significant digits / 2) + 1, lists and maps 3 bytes plus 1 per element.
 * An update's "after" size is the size last seen plus the values it sets (an upper bound); items never seen
 * by this process (e.g. stock seeded elsewhere) start at the size of their key.
 */
import type { AttributeValue, ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';

export type UnitsByTable = Record<string, { calls: number; readUnits: number; writeUnits: number }>;

const readActions = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

/** The calls that can report their consumed capacity: the bench asks each of them to. */
export const capacityReporting = new Set([
  ...readActions,
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

type Item = Record<string, AttributeValue>;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** Bytes of a DynamoDB number: (significant digits / 2, rounded up) + 1. */
export function numberSize(text: string): number {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((n, s) => n + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((n, s) => n + numberSize(s), 0);
  if (value.BS !== undefined) return value.BS.reduce((n, b) => n + b.byteLength, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((n, v) => n + valueSize(v) + 1, 0);
  if (value.M !== undefined) {
    return 3 + Object.entries(value.M).reduce((n, [k, v]) => n + utf8(k) + valueSize(v) + 1, 0);
  }
  return 0;
}

const attributeTypes = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'SS', 'NS', 'BS', 'L', 'M']);

/** Whether `value` is in DynamoDB's wire shape (`{ S: 'x' }`) rather than a plain JavaScript value. */
function isAttributeValue(value: unknown): value is AttributeValue {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && attributeTypes.has(keys[0] as string);
}

/**
 * The size of an item as DynamoDB bills it: every attribute's name plus its value. Accepts the wire
 * shape and plain values (the document client hands its callers unmarshalled items).
 */
export function itemSize(item: Record<string, unknown> | undefined): number {
  if (!item) return 0;
  const values = Object.values(item);
  const wire = values.length > 0 && values.every(isAttributeValue);
  const marshalled = wire
    ? (item as Item)
    : marshall(item, { convertClassInstanceToMap: true, removeUndefinedValues: true });
  return Object.entries(marshalled).reduce((n, [name, value]) => n + utf8(name) + valueSize(value), 0);
}

export const writeUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / 1024));
export const readUnits = (bytes: number, consistent: boolean): number =>
  Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);

/** A write as the single calls, a transaction's entries and a batch's requests spell it. */
interface WriteRequest {
  TableName: string;
  Item?: Item;
  Key?: Item;
  ExpressionAttributeValues?: Item;
}
type WriteKind = 'Put' | 'Update' | 'Delete' | 'ConditionCheck';

/**
 * Counts the units of the calls it is shown and remembers item sizes between them. `keyNames` gives a
 * physical table's key attributes (to recognise the same item in a Put and a later Update).
 */
export class CapacityCounter {
  readonly byTable: UnitsByTable = {};
  readonly #sizes = new Map<string, number>();
  readonly #keyNames: (table: string) => readonly string[];
  /** Set while a call that reported its consumed capacity is recorded: its units are the reported ones. */
  #reported = false;

  constructor(keyNames: (table: string) => readonly string[]) {
    this.#keyNames = keyNames;
  }

  #itemId(table: string, key: Item): string {
    // Keys come marshalled (inputs) or plain (document client outputs): compare their scalar values.
    const scalar = (value: unknown) =>
      isAttributeValue(value) ? (value.S ?? value.N ?? Buffer.from(value.B ?? []).toString('base64')) : value;
    return `${table}|${this.#keyNames(table)
      .map((name) => JSON.stringify(scalar(key[name]) ?? null))
      .join('|')}`;
  }

  #keyOf(table: string, item: Item): Item {
    return Object.fromEntries(
      this.#keyNames(table).flatMap((name) => (item[name] ? [[name, item[name]]] : [])),
    );
  }

  /** Adds units (unless the call reported its own) and, with `call`, one request. */
  #add(table: string, units: { readUnits?: number; writeUnits?: number }, call = false): void {
    this.byTable[table] ??= { calls: 0, readUnits: 0, writeUnits: 0 };
    const counts = this.byTable[table];
    if (!this.#reported) {
      counts.readUnits += units.readUnits ?? 0;
      counts.writeUnits += units.writeUnits ?? 0;
    }
    if (call) counts.calls += 1;
  }

  /** A Put (its item), an Update (its values added to what was there), a Delete (nothing after), a check. */
  #write(kind: WriteKind, request: WriteRequest, succeeded: boolean, factor: number): void {
    const table = request.TableName;
    const key = request.Key ?? this.#keyOf(table, request.Item ?? {});
    const id = this.#itemId(table, key);
    const before = this.#sizes.get(id) ?? itemSize(key);
    const after =
      kind === 'Put'
        ? itemSize(request.Item)
        : kind === 'Update'
          ? before + itemSize(request.ExpressionAttributeValues ?? {})
          : kind === 'Delete'
            ? 0
            : before;
    this.#add(table, { writeUnits: factor * writeUnits(Math.max(before, after)) });
    if (!succeeded || kind === 'ConditionCheck') return;
    if (kind === 'Delete') this.#sizes.delete(id);
    else this.#sizes.set(id, after);
  }

  #read(table: string, key: Item, found: Item | undefined, consistent: boolean, factor: number): void {
    const size = found ? itemSize(found) : 0;
    this.#add(table, { readUnits: factor * readUnits(size, consistent) });
    if (found && Object.keys(found).length > this.#keyNames(table).length) {
      this.#sizes.set(this.#itemId(table, key), size);
    }
  }

  /**
   * Records one call: its command name (`PutItemCommand`), its input (wire shape) and, when it succeeded,
   * its output (wire shape, or plain from a document client).
   */
  record(command: string, input: Record<string, unknown>, output: Record<string, unknown> | undefined): void {
    const action = command.replace(/Command$/, '');
    // One entry per table, its indexes included in the totals.
    const reported = output?.ConsumedCapacity as ConsumedCapacity | ConsumedCapacity[] | undefined;
    // Item sizes are still followed (a later failure of the same item is estimated from them).
    this.#reported = reported !== undefined;
    try {
      this.#estimate(action, input, output);
    } finally {
      this.#reported = false;
    }
    const reads = readActions.has(action);
    for (const entry of [reported ?? []].flat()) {
      if (!entry.TableName) continue;
      const units = (reads ? entry.ReadCapacityUnits : entry.WriteCapacityUnits) ?? entry.CapacityUnits ?? 0;
      this.#add(entry.TableName, reads ? { readUnits: units } : { writeUnits: units });
    }
  }

  #estimate(action: string, input: Record<string, unknown>, output: Record<string, unknown> | undefined) {
    const ok = output !== undefined;
    const table = input.TableName as string;
    const consistent = input.ConsistentRead === true;
    // Control-plane calls (DescribeTable, ...) count as requests too, though not billed per request.
    for (const name of requestTables(action, input)) this.#add(name, {}, true);
    switch (action) {
      case 'PutItem':
      case 'UpdateItem':
      case 'DeleteItem':
        return this.#write(action.replace('Item', '') as WriteKind, input as unknown as WriteRequest, ok, 1);
      case 'GetItem':
        return this.#read(table, input.Key as Item, output?.Item as Item | undefined, consistent, 1);
      case 'Query':
      case 'Scan': {
        // The sum of the items returned is rounded, not each item.
        const bytes = ((output?.Items ?? []) as Item[]).reduce((n, item) => n + itemSize(item), 0);
        return this.#add(table, { readUnits: readUnits(bytes, consistent) });
      }
      case 'BatchGetItem': {
        const requests = input.RequestItems as Record<string, { Keys: Item[]; ConsistentRead?: boolean }>;
        const responses = (output?.Responses ?? {}) as Record<string, Item[]>;
        for (const [name, { Keys, ConsistentRead = false }] of Object.entries(requests)) {
          const found = responses[name] ?? [];
          // Each item is rounded on its own; a key with no item costs like an absent GetItem.
          for (const item of found) this.#read(name, this.#keyOf(name, item), item, ConsistentRead, 1);
          const missing = Math.max(0, Keys.length - found.length);
          this.#add(name, { readUnits: missing * readUnits(0, ConsistentRead) });
        }
        return;
      }
      case 'BatchWriteItem': {
        const requests = input.RequestItems as Record<
          string,
          { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
        >;
        for (const [name, writes] of Object.entries(requests)) {
          for (const { PutRequest, DeleteRequest } of writes) {
            if (PutRequest) this.#write('Put', { TableName: name, ...PutRequest }, ok, 1);
            if (DeleteRequest) this.#write('Delete', { TableName: name, ...DeleteRequest }, ok, 1);
          }
        }
        return;
      }
      case 'TransactWriteItems':
        for (const entry of input.TransactItems as Partial<Record<WriteKind, WriteRequest>>[]) {
          const [kind, request] = Object.entries(entry)[0] as [WriteKind, WriteRequest];
          this.#write(kind, request, ok, 2);
        }
        return;
      case 'TransactGetItems': {
        const gets = input.TransactItems as { Get: { TableName: string; Key: Item } }[];
        const responses = (output?.Responses ?? []) as { Item?: Item }[];
        for (const [i, { Get }] of gets.entries())
          this.#read(Get.TableName, Get.Key, responses[i]?.Item, true, 2);
      }
    }
  }
}

/**
 * The tables a call counts one request under: each table of a batch; a transaction is one request,
 * whatever the tables it touches, counted under its first; a single call's table.
 */
function requestTables(action: string, input: Record<string, unknown>): string[] {
  if (action.startsWith('Batch')) return Object.keys(input.RequestItems as object);
  if (!action.startsWith('Transact')) return input.TableName ? [input.TableName as string] : [];
  const [first] = input.TransactItems as Record<string, { TableName: string }>[];
  return first ? [(Object.values(first)[0] as { TableName: string }).TableName] : [];
}
