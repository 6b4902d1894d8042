/**
 * Cancellation end to end (real Kafka, moto, the real handlers behind the emulators): an order cancelled
 * at every point of its journey gives back exactly the stock it held, once; a shipped order cannot be
 * cancelled; and 200 orders racing for short stock while half of them are cancelled at random moments
 * leave every unit accounted for and every order in exactly one final state, told once.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { stockItemOf } from '../../functions/shared/catalog.ts';
import { localDynamoDbConfig } from '../../local/infra/index.ts';
import type { FunctionName } from '../../topology/index.ts';
import { testInfra } from '../support/env.ts';
import { waitFor } from '../support/kafka.ts';
import {
  e2eCatalog,
  mapConcurrently,
  orderBody,
  type StoredOrderView,
  useE2ePipeline,
} from '../support/pipeline.ts';

const TIMEOUT_MS = 90_000;
const FINAL = new Set(['SHIPPED', 'REJECTED', 'CANCELLED']);

describe('cancelling orders (real Kafka, dynoxide, moto SNS, the real handlers)', () => {
  const e2e = useE2ePipeline('cxl', { runtime: { retryBackoff: { initialMs: 100, maxMs: 500 } } });
  const { faults } = e2e;
  const orderIn = (orderId: string, statuses: Iterable<string>) => e2e.tables.orderIn(orderId, statuses);
  const released = async (orderId: string) =>
    waitFor(
      async () => (await e2e.tables.order(orderId))?.stockReleased !== undefined,
      `the stock of ${orderId} to be given back`,
      TIMEOUT_MS,
      100,
    );
  const kinds = async (orderId: string) =>
    (await e2e.tables.notifications(orderId)).map((n) => n.kind).sort();

  /** Places an order of `quantity` units of the plentiful SKU, held before `holdAt` when given. */
  async function place(quantity: number, holdAt?: FunctionName): Promise<string> {
    const orderId = `cxl-${randomUUID().slice(0, 8)}`;
    if (holdAt) faults.alwaysFail(holdAt, orderId);
    const posted = await e2e.post(orderBody([{ entry: e2eCatalog.plenty, quantity }], orderId), randomUUID());
    expect(posted.status).toBe(202);
    return orderId;
  }

  it.each([
    ['after confirmation', 'CONFIRMED', 'warehouse'],
    ['after packing', 'PACKED', 'shipper'],
  ] as const)(
    'gives back exactly what it reserved when cancelled %s, and tells the customer once',
    async (_, status, hold) => {
      const before = await e2e.tables.stock(e2eCatalog.plenty.sku);
      const orderId = await place(4, hold);
      await orderIn(orderId, new Set([status]));
      const answer = await e2e.cancel(orderId, { reason: 'Found it cheaper' });
      expect(answer).toEqual({
        status: 202,
        body: { orderId, status: 'CANCELLED', statusUrl: `/orders/${orderId}` },
      });
      faults.heal(hold, orderId);
      await released(orderId);
      await waitFor(
        async () => (await kinds(orderId)).includes('order-cancelled'),
        'the cancellation notice',
      );
      expect(await e2e.tables.stock(e2eCatalog.plenty.sku)).toEqual(before);
      const view = await e2e.get(orderId);
      expect(view.body).toMatchObject({ status: 'CANCELLED', cancellationReason: 'Found it cheaper' });
      expect(
        (view.body.history as { status: string; detail?: string }[]).find((h) => h.status === 'CANCELLED'),
      ).toMatchObject({
        detail: 'Found it cheaper',
      });
      // The held step's retry found it cancelled: nothing packed or shipped after the cancellation.
      expect(await kinds(orderId)).toEqual(
        status === 'PACKED' ? ['order-cancelled', 'order-packed'] : ['order-cancelled'],
      );
      expect((await e2e.tables.order(orderId))?.status).toBe('CANCELLED');
    },
  );

  it('cancels right after POST: nothing kept reserved whoever wins the race with inventory', async () => {
    const before = await e2e.tables.stock(e2eCatalog.plenty.sku);
    const orderId = await place(2);
    expect((await e2e.cancel(orderId)).status).toBe(202);
    await released(orderId);
    await waitFor(async () => (await kinds(orderId)).includes('order-cancelled'), 'the cancellation notice');
    expect(await e2e.tables.stock(e2eCatalog.plenty.sku)).toEqual(before);
    expect(await kinds(orderId)).not.toContain('order-shipped');
  });

  it('answers a second cancel the same way, with no second effect', async () => {
    const before = await e2e.tables.stock(e2eCatalog.plenty.sku);
    const orderId = await place(3, 'warehouse');
    await orderIn(orderId, new Set(['CONFIRMED']));
    const first = await e2e.cancel(orderId, undefined, `k-${orderId}`);
    const again = await e2e.cancel(orderId, undefined, `k-${orderId}`);
    const third = await e2e.cancel(orderId);
    expect(again).toEqual(first);
    expect(third).toEqual(first);
    faults.heal('warehouse', orderId);
    await released(orderId);
    await waitFor(async () => (await kinds(orderId)).includes('order-cancelled'), 'the cancellation notice');
    expect(await e2e.tables.stock(e2eCatalog.plenty.sku)).toEqual(before);
    expect(await kinds(orderId)).toEqual(['order-cancelled']);
  });

  it('refuses a cancel key reused on another order (409): that order is not cancelled and ships', async () => {
    const [a, b] = [await place(1, 'warehouse'), await place(1, 'warehouse')];
    await orderIn(a, new Set(['CONFIRMED']));
    await orderIn(b, new Set(['CONFIRMED']));
    const key = `k-${randomUUID()}`;
    expect((await e2e.cancel(a, undefined, key)).status).toBe(202);
    const reused = await e2e.cancel(b, undefined, key);
    expect(reused.status).toBe(409);
    expect(reused.body).toMatchObject({ message: expect.stringContaining('another request') });
    faults.heal('warehouse', a);
    faults.heal('warehouse', b);
    expect((await orderIn(b, FINAL)).status).toBe('SHIPPED');
    expect((await orderIn(a, FINAL)).status).toBe('CANCELLED');
  });

  it('refuses to cancel a shipped order (409 with its status) and 404s an unknown one', async () => {
    const orderId = await place(1);
    await orderIn(orderId, new Set(['SHIPPED']));
    const answer = await e2e.cancel(orderId);
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ status: 'SHIPPED' });
    expect((await e2e.tables.order(orderId))?.status).toBe('SHIPPED');
    expect((await e2e.cancel('cxl-nobody')).status).toBe(404);
  });

  it('finishes a cancellation whose SKU left the inventory after the reservation: the rest given back, the customer told, the line kept for an operator', async () => {
    const db = DynamoDBDocumentClient.from(
      new DynamoDBClient(localDynamoDbConfig(testInfra().dynamodbEndpoint)),
    );
    const inventory = e2e.tables.name('inventory');
    const gone = {
      sku: `SKU-E2E-GONE-${randomUUID().slice(0, 8).toUpperCase()}`,
      name: 'E2E discontinued',
      unitPrice: 4,
      weightGrams: 100,
      initialStock: 10,
    };
    try {
      await db.send(new PutCommand({ TableName: inventory, Item: stockItemOf(gone) }));
      const before = await e2e.tables.stock(e2eCatalog.plenty.sku);
      const orderId = `cxl-${randomUUID().slice(0, 8)}`;
      faults.alwaysFail('warehouse', orderId);
      const lines = [
        { entry: e2eCatalog.plenty, quantity: 2 },
        { entry: gone, quantity: 1 },
      ];
      expect((await e2e.post(orderBody(lines, orderId), randomUUID())).status).toBe(202);
      await orderIn(orderId, new Set(['CONFIRMED']));
      await db.send(new DeleteCommand({ TableName: inventory, Key: { sku: gone.sku } }));
      expect((await e2e.cancel(orderId)).status).toBe(202);
      faults.heal('warehouse', orderId);
      await released(orderId);
      await waitFor(
        async () => (await kinds(orderId)).includes('order-cancelled'),
        'the cancellation notice',
      );
      expect(await e2e.tables.stock(e2eCatalog.plenty.sku)).toEqual(before);
      const stored = await e2e.tables.order(orderId);
      expect(stored).toMatchObject({
        status: 'CANCELLED',
        stockReleased: true,
        unreleasedStock: [
          { sku: gone.sku, quantity: 1, reason: `${gone.sku} is no longer in the inventory` },
        ],
      });
      // Out of the outbox: the sweeper has nothing more to re-produce.
      expect(stored).not.toHaveProperty('outboxShard');
      expect(await kinds(orderId)).toEqual(['order-cancelled']);
    } finally {
      db.destroy();
    }
  });

  it('accounts for every unit when 200 orders race for short stock and half are cancelled at random moments', async () => {
    const { limited } = e2eCatalog;
    const initial = await e2e.tables.stock(limited.sku);
    const quantities = Array.from({ length: 200 }, (_, i) => 1 + (i % 3));
    const toCancel = new Set(quantities.map((_, i) => i).filter((i) => i % 2 === 0));
    // Each chosen order is cancelled a random moment after its 202 (0-150 ms, while the pipeline works
    // on it): before inventory, after it, after packing, or too late, after shipping (409).
    const cancelling: Promise<{ i: number; answer: Awaited<ReturnType<typeof e2e.cancel>> }>[] = [];
    const answers = await mapConcurrently(
      quantities.map((quantity, i) => ({ quantity, i })),
      25,
      async ({ quantity, i }) => {
        const answer = await e2e.post(orderBody([{ entry: limited, quantity }]), randomUUID());
        if (toCancel.has(i) && answer.status === 202) {
          cancelling.push(
            new Promise((resolve) => setTimeout(resolve, Math.random() * 150)).then(async () => ({
              i,
              answer: await e2e.cancel(answer.body.orderId as string, { reason: 'race' }),
            })),
          );
        }
        return answer;
      },
    );
    expect(answers.map((a) => a.status)).toEqual(quantities.map(() => 202));
    const ids = answers.map((a) => a.body.orderId as string);
    const cancels = await Promise.all(cancelling);
    for (const { answer } of cancels) expect([202, 409]).toContain(answer.status);

    const orders = await e2e.tables.settled(
      ids,
      (order) =>
        FINAL.has(order.status) && (order.status !== 'CANCELLED' || order.stockReleased !== undefined),
      'all 200 orders to end SHIPPED, REJECTED or CANCELLED (stock given back)',
      500,
    );
    const quantityOf = (o: StoredOrderView) => o.items[0]?.quantity ?? 0;
    const shipped = orders.filter((o) => o.status === 'SHIPPED');
    const stock = await e2e.tables.stock(limited.sku);
    // initial − available = what shipped (nothing is still reserved: every order is final).
    expect(initial.available - stock.available).toBe(shipped.reduce((n, o) => n + quantityOf(o), 0));
    expect(stock.reserved - initial.reserved).toBe(shipped.reduce((n, o) => n + quantityOf(o), 0));
    // A 409 only for an order that had shipped or was rejected; a 202 always ends CANCELLED.
    for (const { i, answer } of cancels) {
      const final = orders[i] as StoredOrderView;
      if (answer.status === 202) expect(final.status).toBe('CANCELLED');
      else expect(['SHIPPED', 'REJECTED']).toContain(final.status);
    }
    // The race happened: some cancellations won (some, even, after stock was reserved).
    expect(orders.some((o) => o.status === 'CANCELLED')).toBe(true);
    // Exactly one notification of the final kind, and never two final kinds.
    const finalKinds: Record<string, string> = {
      SHIPPED: 'order-shipped',
      REJECTED: 'order-rejected',
      CANCELLED: 'order-cancelled',
    };
    await waitFor(
      async () => {
        for (const o of orders)
          if (!(await kinds(o.orderId)).includes(finalKinds[o.status] as string)) return false;
        return true;
      },
      'every final notification',
      TIMEOUT_MS,
      500,
    );
    for (const o of orders) {
      const got = (await kinds(o.orderId)).filter((k) => Object.values(finalKinds).includes(k));
      expect(got, o.orderId).toEqual([finalKinds[o.status]]);
    }
  }, 480_000);
});
