/** Sending orders: `POST /orders` on the API emulator, or a record on the baseline's first topic. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Producer } from '@platformatic/kafka';
import { connectionOptions } from '../../functions/shared/kafka/connection.ts';
import { producerOptions, type RecordProducer } from '../../functions/shared/kafka/producer.ts';
import type { OrderBody } from './orders.ts';
import { baselineRecord } from './orders.ts';

export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}

/**
 * POSTs an order with an Idempotency-Key, the way a careful client does: a network error, a 5xx, a
 * 429 or a 409 "still in progress" is retried with the same key (so a retry can never create a second order) until `deadlineMs`.
 * Resolves with the order id of the 202 answer; any other 4xx is refused for good.
 */
export async function postOrder(
  apiUrl: string | (() => string),
  order: OrderBody,
  options: { deadlineMs?: number; onRetry?: (reason: string) => void } = {},
): Promise<string> {
  const deadline = Date.now() + (options.deadlineMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    let reason: string;
    try {
      const base = typeof apiUrl === 'string' ? apiUrl : apiUrl();
      const response = await fetch(`${base}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': order.orderId },
        body: JSON.stringify(order),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (response.status === 202) return (JSON.parse(text) as { orderId: string }).orderId;
      // 409 "still in progress": an earlier attempt with this key is (or was, until its record
      // expires) being processed, e.g. by a runtime that crashed; the same key may be sent again.
      const inProgress = response.status === 409 && /in progress/i.test(text);
      if (response.status < 500 && response.status !== 429 && !inProgress) {
        throw new RequestRefused(`POST /orders answered ${response.status}: ${text.slice(0, 300)}`);
      }
      reason = `HTTP ${response.status}`;
    } catch (error) {
      if (error instanceof RequestRefused) throw error;
      reason = (error as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`POST /orders kept failing (${attempt} attempts), last: ${reason}`);
    options.onRetry?.(reason);
    await sleep(Math.min(2_000, 100 * 2 ** attempt));
  }
}

/** Produces baseline orders with the functions' producer settings; `send` resolves once acknowledged. */
export function baselineSender(brokers: string[], topic: string) {
  const producer: RecordProducer = new Producer(
    producerOptions(connectionOptions({ brokers, auth: 'none', clientId: 'bench-baseline-source' })),
  );
  return {
    async send(order: OrderBody): Promise<string> {
      const record = baselineRecord(order);
      await producer.send({ messages: [{ topic, ...record }] });
      return order.orderId;
    },
    close: () => producer.close(),
  };
}
