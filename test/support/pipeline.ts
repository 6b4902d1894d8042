import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { MSKEvent } from 'aws-lambda';
import { afterAll, beforeAll } from 'vitest';
import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import type { StoredOrder } from '../../functions/shared/orders/model.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import { applyEnvironment } from '../../local/runtime/environment.ts';
import type { Invoker } from '../../local/runtime/lambda-context.ts';
import type { LocalRuntime, LocalRuntimeOptions } from '../../local/runtime/runtime.ts';
import { type FunctionName, isKafkaConsumer, localTableName, type TableName } from '../../topology/index.ts';
import { testInfra } from './env.ts';
import { uniqueName, waitFor } from './kafka.ts';
import { prepareTestStack, startTestRuntime, testGroupIds } from './runtime.ts';

/**
 * Makes the real handlers fail on purpose, for the records of chosen orders (records are keyed by order
 * id), and counts the invocations whose batch held such a record.
 */
export class Faults {
  readonly #remaining = new Map<string, number>();
  readonly #invocations = new Map<string, number>();

  /** The next `times` invocations of `fn` whose batch holds a record of `orderId` fail. */
  failTimes(fn: FunctionName, orderId: string, times: number): void {
    this.#remaining.set(`${fn}|${orderId}`, times);
  }

  alwaysFail(fn: FunctionName, orderId: string): void {
    this.failTimes(fn, orderId, Number.POSITIVE_INFINITY);
  }

  /** Stops failing `fn` for `orderId`: its next retry goes through. */
  heal(fn: FunctionName, orderId: string): void {
    this.#remaining.delete(`${fn}|${orderId}`);
  }

  invocations(fn: FunctionName, orderId: string): number {
    return this.#invocations.get(`${fn}|${orderId}`) ?? 0;
  }

  /** Fails, from the outside, the invocations of `fn` whose batch holds a record of an order told to fail. */
  wrap = (fn: FunctionName, invoke: Invoker): Invoker => {
    if (!isKafkaConsumer(fn)) return invoke;
    return async (event) => {
      const keys = new Set(
        Object.values((event as MSKEvent).records)
          .flat()
          .map((record) => (record.key ? Buffer.from(record.key, 'base64').toString() : '')),
      );
      for (const key of keys) {
        this.#invocations.set(`${fn}|${key}`, this.invocations(fn, key) + 1);
      }
      for (const key of keys) {
        const left = this.#remaining.get(`${fn}|${key}`) ?? 0;
        if (left > 0) {
          this.#remaining.set(`${fn}|${key}`, left - 1);
          throw new Error(`injected failure of ${fn} for ${key}`);
        }
      }
      return invoke(event);
    };
  };
}

export interface StoredOrderView {
  orderId: string;
  status: string;
  items: { sku: string; quantity: number }[];
  history: { status: string; at: string; detail?: string }[];
  rejectionReason?: string;
  trackingNumber?: string;
  carrier?: string;
  /** Set once a cancelled order's stock was given back (inventory-release). */
  stockReleased?: boolean;
}

export interface StockView {
  sku: string;
  available: number;
  reserved: number;
}

/** Reads the tables of one table prefix directly. */
export class Tables {
  readonly #client: DynamoDBDocumentClient;
  readonly #prefix: string;

  constructor(dynamodbEndpoint: string, prefix: string) {
    this.#client = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoDbConfig(dynamodbEndpoint)));
    this.#prefix = prefix;
  }

  name(table: TableName): string {
    return localTableName(table, this.#prefix);
  }

  async order(orderId: string): Promise<StoredOrderView | undefined> {
    const answer = await this.#client.send(
      new GetCommand({ TableName: this.name('orders'), Key: { orderId }, ConsistentRead: true }),
    );
    return answer.Item as StoredOrderView | undefined;
  }

  /** Polls the order until its status is one of `statuses`; answers it as then read. */
  async orderIn(orderId: string, statuses: Iterable<string>, timeoutMs = 90_000): Promise<StoredOrderView> {
    const wanted = new Set(statuses);
    let order: StoredOrderView | undefined;
    await waitFor(
      async () => {
        order = await this.order(orderId);
        return wanted.has(order?.status ?? '');
      },
      `order ${orderId} to be ${[...wanted].join(' or ')} (last seen: ${JSON.stringify(order?.history)})`,
      timeoutMs,
      200,
    );
    return order as StoredOrderView;
  }

  /**
   * Polls the orders of `ids`, in order, until each is `done`; a done order is not read again, so polling
   * many orders does not compete with the pipeline for the endpoint. Answers them in the order of `ids`.
   */
  async settled(
    ids: readonly string[],
    done: (order: StoredOrderView) => boolean,
    what: string,
    intervalMs: number,
  ): Promise<StoredOrderView[]> {
    const settled = new Map<string, StoredOrderView>();
    const allDone = async () => {
      for (const id of ids.filter((id) => !settled.has(id))) {
        const order = await this.order(id);
        if (!order || !done(order)) return false;
        settled.set(id, order);
      }
      return true;
    };
    await waitFor(allDone, what, 360_000, intervalMs);
    return ids.map((id) => settled.get(id) as StoredOrderView);
  }

  /** Writes an order item as order-api would, without producing its event (as if it crashed in between). */
  async putOrder(order: StoredOrder): Promise<void> {
    await this.#client.send(new PutCommand({ TableName: this.name('orders'), Item: order }));
  }

  async stock(sku: string): Promise<StockView> {
    const answer = await this.#client.send(
      new GetCommand({ TableName: this.name('inventory'), Key: { sku }, ConsistentRead: true }),
    );
    if (!answer.Item) throw new Error(`no inventory item ${sku}`);
    return answer.Item as StockView;
  }

  async notifications(orderId: string): Promise<{ kind: string; notificationId: string }[]> {
    const answer = await this.#client.send(
      new QueryCommand({
        TableName: this.name('notifications'),
        KeyConditionExpression: 'orderId = :id',
        ExpressionAttributeValues: { ':id': orderId },
        ConsistentRead: true,
      }),
    );
    return (answer.Items ?? []) as { kind: string; notificationId: string }[];
  }

  close(): void {
    this.#client.destroy();
  }
}

export const e2eCatalog = {
  plenty: {
    sku: 'SKU-E2E-PLENTY',
    name: 'E2E plentiful',
    unitPrice: 5,
    weightGrams: 100,
    initialStock: 100_000,
  },
  scarce: { sku: 'SKU-E2E-SCARCE', name: 'E2E scarce', unitPrice: 7.5, weightGrams: 200, initialStock: 2 },
  duplicate: { sku: 'SKU-E2E-DUP', name: 'E2E duplicate', unitPrice: 3, weightGrams: 50, initialStock: 100 },
  limited: {
    sku: 'SKU-E2E-LIMITED',
    name: 'E2E limited',
    unitPrice: 11,
    weightGrams: 300,
    initialStock: 150,
  },
} satisfies Record<string, CatalogEntry>;

export interface Line {
  entry: CatalogEntry;
  quantity: number;
}

/** A POST /orders body. */
export function orderBody(lines: Line[], orderId?: string): Record<string, unknown> {
  return {
    ...(orderId ? { orderId } : {}),
    customerId: `cust-${randomUUID().slice(0, 8)}`,
    items: lines.map(({ entry, quantity }) => ({
      sku: entry.sku,
      name: entry.name,
      quantity,
      unitPrice: entry.unitPrice,
    })),
    shippingAddress: {
      name: 'Test Customer',
      line1: '1 Test St',
      city: 'Testville',
      postalCode: '12345',
      country: 'US',
    },
  };
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

export async function postOrder(apiUrl: string, body: unknown, idempotencyKey?: string): Promise<ApiAnswer> {
  const response = await fetch(`${apiUrl}/orders`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function cancelOrder(
  apiUrl: string,
  orderId: string,
  body?: unknown,
  idempotencyKey?: string,
): Promise<ApiAnswer> {
  const response = await fetch(`${apiUrl}/orders/${encodeURIComponent(orderId)}/cancel`, {
    method: 'POST',
    headers: {
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function getOrder(apiUrl: string, orderId: string): Promise<ApiAnswer> {
  const response = await fetch(`${apiUrl}/orders/${encodeURIComponent(orderId)}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Runs `task` over `items` with at most `limit` in flight; results in input order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface E2ePipeline {
  runtime: LocalRuntime;
  /** The API emulator's base URL. */
  api: string;
  tables: Tables;
  /** The physical names' prefix of this file's tables and SNS topic. */
  tablePrefix: string;
  /** The consumer groups of this file's runtime: its own, positioned at the end of their topics. */
  groupIdOf(fn: FunctionName): string;
  stop(): Promise<void>;
}

/** An e2e pipeline around the tests of one describe block, the order API's calls bound to its URL. */
export interface E2eFixture {
  /** Fails the handlers for chosen orders: the invokers' wrapper unless the options give one. */
  readonly faults: Faults;
  readonly pipeline: E2ePipeline;
  readonly tables: Tables;
  post(body: unknown, idempotencyKey?: string): Promise<ApiAnswer>;
  get(orderId: string): Promise<ApiAnswer>;
  cancel(orderId: string, body?: unknown, idempotencyKey?: string): Promise<ApiAnswer>;
}

/**
 * startE2ePipeline for the calling describe block: started in a beforeAll, stopped in an afterAll (after
 * the block's own). Its parts are there inside the tests and the block's later hooks.
 */
export function useE2ePipeline(name: string, options?: Parameters<typeof startE2ePipeline>[1]): E2eFixture {
  const faults = new Faults();
  let started: E2ePipeline | undefined;
  beforeAll(async () => {
    started = await startE2ePipeline(name, {
      ...options,
      runtime: { wrapInvoker: faults.wrap, ...options?.runtime },
    });
  });
  afterAll(async () => {
    await started?.stop();
  });
  const pipeline = (): E2ePipeline => {
    if (!started) throw new Error(`the ${name} pipeline is not started yet`);
    return started;
  };
  return {
    faults,
    get pipeline() {
      return pipeline();
    },
    get tables() {
      return pipeline().tables;
    },
    post: (body, idempotencyKey) => postOrder(pipeline().api, body, idempotencyKey),
    get: (orderId) => getOrder(pipeline().api, orderId),
    cancel: (orderId, body, idempotencyKey) => cancelOrder(pipeline().api, orderId, body, idempotencyKey),
  };
}

/**
 * The whole pipeline for one test file, on the integration run's broker, DynamoDB and SNS: a table prefix of its
 * own (provisioned, the e2e catalog seeded), the functions' consumer groups of its own positioned at the
 * end of their topics (records of other files are not replayed), and the local runtime started with them.
 * `runtime` options override the defaults (free API port, short retry waits, quiet log).
 */
export async function startE2ePipeline(
  name: string,
  options: { logLevel?: string; runtime?: Partial<LocalRuntimeOptions> } = {},
): Promise<E2ePipeline> {
  const tablePrefix = uniqueName(name);
  const groupIdOf = testGroupIds(name);
  const restoreEnv = applyEnvironment({ POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'ERROR' });
  const tables = new Tables(testInfra().dynamodbEndpoint, tablePrefix);
  await prepareTestStack({ tablePrefix, catalog: Object.values(e2eCatalog), groupIdOf });
  const runtime = await startTestRuntime({
    tablePrefix,
    groupIdOf,
    retryBackoff: { initialMs: 100, maxMs: 1_000 },
    ...options.runtime,
  });
  return {
    runtime,
    api: runtime.apiUrl as string,
    tables,
    tablePrefix,
    groupIdOf,
    async stop() {
      await runtime.stop();
      tables.close();
      restoreEnv();
    },
  };
}
