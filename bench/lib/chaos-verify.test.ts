import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkNotifications, type RecordedNotification, readDeliveries } from './verify.ts';

const item = (orderId: string, kind: string, id = `${orderId}-${kind}`): RecordedNotification => ({
  orderId,
  kind,
  notificationId: id,
});

const shipped = (orderId: string) => [item(orderId, 'order-packed'), item(orderId, 'order-shipped')];
const sentOnce = (items: RecordedNotification[]) => new Map(items.map((i) => [i.notificationId, 1]));

describe('checkNotifications', () => {
  it('passes a shipped and a rejected order, each told once of each kind', () => {
    const recorded = [...shipped('o1'), item('o2', 'order-rejected')];
    const check = checkNotifications({
      orderStatus: new Map([
        ['o1', 'SHIPPED'],
        ['o2', 'REJECTED'],
      ]),
      recorded,
      produced: new Map(recorded.map((i) => [i.notificationId, { orderId: i.orderId, kind: i.kind }])),
      deliveries: sentOnce(recorded),
    });
    expect(check).toEqual({ duplicates: [], missing: [], repeatedSends: [], deliveriesObserved: true });
  });

  it('finds a shipped order whose packed notification was never recorded', () => {
    const check = checkNotifications({
      orderStatus: new Map([['o1', 'SHIPPED']]),
      recorded: [item('o1', 'order-shipped')],
    });
    expect(check.missing).toEqual([{ orderId: 'o1', kind: 'order-packed', problem: 'not-recorded' }]);
  });

  it('reports a notification sent twice though recorded once as a repeated send, not a second notification', () => {
    const recorded = shipped('o1');
    const deliveries = sentOnce(recorded);
    deliveries.set('o1-order-shipped', 2);
    const check = checkNotifications({ orderStatus: new Map([['o1', 'SHIPPED']]), recorded, deliveries });
    expect(check.duplicates).toEqual([]);
    expect(check.repeatedSends).toEqual([{ orderId: 'o1', kind: 'order-shipped', delivered: 2 }]);
  });

  it('finds two items of the same kind for one order (different ids)', () => {
    const recorded = [...shipped('o1'), item('o1', 'order-packed', 'forged')];
    const check = checkNotifications({ orderStatus: new Map([['o1', 'SHIPPED']]), recorded });
    expect(check.duplicates).toEqual([
      { orderId: 'o1', kind: 'order-packed', recorded: 2, delivered: undefined },
    ]);
  });

  it('finds a notification produced but never recorded, and one recorded but never sent', () => {
    const recorded = shipped('o1');
    const deliveries = new Map([['o1-order-packed', 1]]);
    const check = checkNotifications({
      orderStatus: new Map([
        ['o1', 'SHIPPED'],
        ['o2', 'PACKED'],
      ]),
      recorded,
      produced: new Map([['o2-order-packed', { orderId: 'o2', kind: 'order-packed' }]]),
      deliveries,
    });
    expect(check.missing).toEqual([
      { orderId: 'o2', kind: 'order-packed', problem: 'produced-not-recorded' },
      { orderId: 'o1', kind: 'order-shipped', problem: 'recorded-not-delivered' },
    ]);
  });

  it('finds a send of a produced notification that was never recorded', () => {
    const check = checkNotifications({
      orderStatus: new Map([['o1', 'PACKED']]),
      recorded: [],
      produced: new Map([['n1', { orderId: 'o1', kind: 'order-packed' }]]),
      deliveries: new Map([['n1', 1]]),
    });
    expect(check.missing).toEqual([
      { orderId: 'o1', kind: 'order-packed', problem: 'produced-not-recorded' },
    ]);
  });

  it('does not judge sends when the logs held none at all', () => {
    const check = checkNotifications({
      orderStatus: new Map([['o1', 'SHIPPED']]),
      recorded: shipped('o1'),
      deliveries: new Map(),
    });
    expect(check).toEqual({ duplicates: [], missing: [], repeatedSends: [], deliveriesObserved: false });
  });
});

describe('readDeliveries', () => {
  const dirPromise = mkdtemp(join(tmpdir(), 'chaos-verify-'));
  afterAll(async () => rm(await dirPromise, { recursive: true, force: true }));

  it('counts the sends in every log, skipping other lines', async () => {
    const dir = await dirPromise;
    const line = (notificationId: string) =>
      JSON.stringify({
        level: 'INFO',
        message: 'notification delivered',
        notificationId,
        kind: 'order-packed',
      });
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    await writeFile(
      a,
      [
        line('n1'),
        'No application metrics to publish.',
        '{"message":"notification delivered"',
        JSON.stringify({ message: 'notification delivered' }),
        line('n2'),
      ].join('\n'),
    );
    // The SNS channel logs each publish the topic accepted.
    await writeFile(b, `${line('n1')}\n${line('n3').replace('delivered', 'published')}\n`);
    expect(await readDeliveries([a, b])).toEqual(
      new Map([
        ['n1', 2],
        ['n2', 1],
        ['n3', 1],
      ]),
    );
  });
});
