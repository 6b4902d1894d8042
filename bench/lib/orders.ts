/**
 * The orders a run sends (demo SKUs, deterministic from the order's index, so a run can be repeated) and
 * how it sends and cancels them: as a careful client does, on the project's one retry primitive.
 */
import { Producer } from '@platformatic/kafka';
import { z } from 'zod';
import { totalInCents } from '../../events/schemas/order.ts';
import { exampleOrder, type OrderRequestBody } from '../../functions/order-api/example-order.ts';
import { orderFromRequest } from '../../functions/order-api/logic.ts';
import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import { connectionOptions } from '../../functions/shared/kafka/connection.ts';
import { producerOptions, type RecordProducer } from '../../functions/shared/kafka/producer.ts';
import { orderReceivedRecord } from '../../functions/shared/orders/events.ts';
import { retry } from '../../functions/shared/retry.ts';
import { type ApiAnswer, unsignedClient } from '../../tools/test-deployed/signed-client.ts';
import type { CancelAnswer } from './verify.ts';

export type OrderBody = OrderRequestBody & { orderId: string };

/** Order `index` of run `runId`: one to three lines of one or two units each. */
export function benchOrder(runId: string, index: number, entries: readonly CatalogEntry[]): OrderBody {
  const lines = 1 + (index % 3);
  const items = Array.from({ length: lines }, (_, line) => {
    const entry = entries[(index + line * 3) % entries.length] as CatalogEntry;
    return {
      sku: entry.sku,
      name: entry.name,
      quantity: 1 + ((index + line) % 2),
      unitPrice: entry.unitPrice,
    };
  });
  return { orderId: `bench-${runId}-${index}`, ...exampleOrder(`cust-${index % 97}`, items) };
}

/** The most units of one SKU that `count` orders can ask for (a safe stock level). */
export const stockFor = (count: number): number => Math.max(100, count * 2 * 3);

/** A 4xx other than 429: the request itself is wrong, so no retry can help. */
export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}

/** Before retry `n`: 200 ms doubling, at most 2 s (the clients' wait since the first bench). */
export const clientRetryDelayMs = (retry: number): number => Math.min(2_000, 100 * 2 ** retry);

/** The API's base URL: one, or a pick per request (chaos runs spread their requests over runtimes). */
export type ApiUrl = string | (() => string);

/**
 * POSTs `body` as JSON to `path` of the API until `final` makes an answer of the response (status and
 * JSON body) or the response is a 4xx other than 429 (refused for good: `RequestRefused`). Anything else (a
 * network error, a 5xx, a 429) is retried with the same body until `deadlineMs` (default 60 s) has passed;
 * then the last failure is thrown as `POST <path> kept failing (N attempts), last: …`.
 */
async function postUntilFinal<T>(
  api: ApiUrl,
  path: string,
  body: unknown,
  final: (answer: ApiAnswer) => T | undefined,
  options: { deadlineMs?: number | undefined; onRetry?: (reason: string) => void },
): Promise<T> {
  const what = `POST ${path}`;
  const deadline = Date.now() + (options.deadlineMs ?? 60_000);
  let attempts = 0;
  const attempt = async (): Promise<T> => {
    attempts += 1;
    const answer = await unsignedClient(typeof api === 'string' ? api : api()).request('POST', path, {
      body,
    });
    const result = final(answer);
    if (result !== undefined) return result;
    if (answer.status < 500 && answer.status !== 429)
      throw new RequestRefused(
        `${what} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`,
      );
    throw new Error(`HTTP ${answer.status}`);
  };
  try {
    return await retry(attempt, {
      attempts: Number.MAX_SAFE_INTEGER,
      delay: clientRetryDelayMs,
      retryIf: (error) => !(error instanceof RequestRefused) && Date.now() <= deadline,
      onRetry: ({ error }) => options.onRetry?.((error as Error).message),
    });
  } catch (error) {
    if (error instanceof RequestRefused) throw error;
    throw new Error(`${what} kept failing (${attempts} attempts), last: ${(error as Error).message}`);
  }
}

/**
 * POSTs an order with an order id of the client's own: the id makes the request idempotent (the order's
 * conditional write guards it: same id and content, the original answer), so a retry can never create a
 * second order. (An `Idempotency-Key` header would add Powertools' record to the order: two more writes,
 * the path of a client that lets the API choose the id.) Resolves with the order id of the 202 answer.
 */
export function postOrder(
  apiUrl: ApiUrl,
  order: OrderBody,
  options: { deadlineMs?: number; onRetry?: (reason: string) => void } = {},
): Promise<string> {
  const accepted = ({ status, body }: ApiAnswer) =>
    status === 202 ? (body as { orderId: string }).orderId : undefined;
  return postUntilFinal(apiUrl, '/orders', order, accepted, options);
}

const Conflict = z.object({ status: z.string().min(1) });

/**
 * POSTs `/orders/{id}/cancel` until a final answer: 202 (cancelled) or 409 with the order's status
 * (shipped or rejected first). No Idempotency-Key: without one a cancellation is idempotent by the order's
 * state, so a retry after a lost 202 answers 202 again; with one, a crash mid-request would leave the key
 * "in progress" until its record expires.
 */
export function cancelOrder(
  apiUrl: ApiUrl,
  orderId: string,
  options: { deadlineMs?: number } = {},
): Promise<CancelAnswer> {
  return postUntilFinal<CancelAnswer>(
    apiUrl,
    `/orders/${encodeURIComponent(orderId)}/cancel`,
    { reason: 'chaos' },
    ({ status, body }) => {
      if (status === 202) return { status: 202 };
      const conflict = status === 409 ? Conflict.safeParse(body) : undefined;
      return conflict?.success ? { status: 409, currentStatus: conflict.data.status } : undefined;
    },
    options,
  );
}

/**
 * Produces baseline orders with the functions' producer settings, each as the OrderReceived record
 * order-api would write for it (what the baseline chain forwards, byte for byte as big); `send` resolves
 * once acknowledged.
 */
export function baselineSender(brokers: string[], topic: string) {
  const producer: RecordProducer = new Producer(
    producerOptions(connectionOptions({ brokers, auth: 'none', clientId: 'bench-baseline-source' })),
  );
  return {
    async send(order: OrderBody): Promise<string> {
      const priced = { items: order.items, total: totalInCents(order.items) / 100 };
      const placed = orderFromRequest({ ...order, currency: 'USD' }, priced, order.orderId, new Date());
      await producer.send({
        messages: [{ ...orderReceivedRecord(placed, order.orderId, new Date()), topic }],
      });
      return order.orderId;
    },
    close: () => producer.close(),
  };
}
