import { describe, expect, it } from 'vitest';
import type { OrderStatus } from '../../functions/shared/orders/model.ts';
import { poisonVerdict } from './chaos-faults.ts';
import {
  endsOrCancels,
  killScenarioNames,
  killScenarios,
  type ScenarioEffects,
  shipsEverything,
} from './chaos-scenarios.ts';
import type { CancelAnswer, DeadLetter, OrderFacts } from './verify.ts';

const fact = (status: OrderStatus, more: Partial<OrderFacts> = {}): OrderFacts => ({
  status,
  items: [],
  history: [],
  ...more,
});

/** The effects of `orders`, those in `shipped` with their order-shipped notice, stock exact. */
const effectsOf = (orders: Map<string, OrderFacts>, shipped: string[]): ScenarioEffects['effects'] => ({
  orders,
  shipped: new Set(shipped),
  statuses: {},
  stockMismatches: [],
  doubleReservedUnits: 0,
});

/** A run of o1..o3, every one shipped, every notice once: both verdicts pass it. */
function clean(more: Partial<ScenarioEffects> = {}): ScenarioEffects {
  const shipped = ['o1', 'o2', 'o3'];
  return {
    accepted: shipped,
    notAccepted: [],
    stock: 100,
    effects: effectsOf(new Map(shipped.map((id) => [id, fact('SHIPPED')])), shipped),
    notifications: { duplicates: [], missing: [] },
    deadLettered: {},
    faultFailures: [],
    ...more,
  };
}

const twoShipped = (orders: Map<string, OrderFacts>) => effectsOf(orders, ['o1', 'o2']);

describe('shipsEverything', () => {
  it('passes a run whose every accepted order shipped', () => {
    expect(shipsEverything(clean())).toEqual({ failures: [], lost: [], completed: 3 });
  });

  it.each<[string, Partial<ScenarioEffects>, string]>([
    [
      'a fault failure',
      { faultFailures: ['2 of 4 poison record(s) missing'] },
      '2 of 4 poison record(s) missing',
    ],
    ['an order never accepted', { notAccepted: ['HTTP 503'] }, '1 order(s) never accepted: HTTP 503'],
    [
      'a notification recorded twice',
      {
        notifications: {
          duplicates: [{ orderId: 'o1', kind: 'order-shipped', recorded: 2, delivered: undefined }],
          missing: [],
        },
      },
      '1 notification(s) recorded more than once, e.g. order-shipped of o1: recorded 2, sent ?',
    ],
    [
      'a notification missing',
      {
        notifications: {
          duplicates: [],
          missing: [{ orderId: 'o2', kind: 'order-packed', problem: 'recorded-not-delivered' }],
        },
      },
      '1 notification(s) missing, e.g. order-packed of o2 (recorded-not-delivered)',
    ],
    [
      'stock that does not add up',
      {
        effects: {
          ...clean().effects,
          stockMismatches: [{ sku: 'S', initial: 10, available: 7, reserved: 4, expectedReserved: 3 }],
        },
      },
      'stock does not add up for 1 SKU(s), e.g. S: available 7, reserved 4, orders need 3 of 10',
    ],
  ])('fails %s', (_, more, failure) => {
    const verdict = shipsEverything(clean(more));
    expect(verdict.failures).toEqual([failure]);
    expect(verdict.lost).toEqual([]);
  });

  it('counts an accepted order that never shipped as lost, even if it was cancelled', () => {
    const orders = new Map([
      ['o1', fact('SHIPPED')],
      ['o2', fact('SHIPPED')],
      ['o3', fact('CANCELLED', { stockReleased: true })],
    ]);
    const verdict = shipsEverything(clean({ effects: twoShipped(orders) }));
    expect(verdict).toEqual({
      failures: ['1 accepted order(s) never shipped, e.g. o3'],
      lost: ['o3'],
      completed: 2,
    });
  });

  it('lists the fault’s failures first, then the lost orders, then the rest', () => {
    const verdict = shipsEverything(
      clean({
        faultFailures: ['fault'],
        notAccepted: ['boom'],
        effects: twoShipped(new Map()),
      }),
    );
    expect(verdict.failures).toEqual([
      'fault',
      '1 accepted order(s) never shipped, e.g. o3',
      '1 order(s) never accepted: boom',
    ]);
  });
});

describe('endsOrCancels', () => {
  const ended = new Map([
    ['o1', fact('SHIPPED')],
    ['o2', fact('REJECTED')],
    ['o3', fact('CANCELLED', { stockReleased: true, cancelledFrom: 'CONFIRMED' })],
  ]);
  const answers = (entries: [string, CancelAnswer][]) => new Map(entries);

  it('passes shipped, rejected and cancelled orders whose cancels were answered as they ended', () => {
    const verdict = endsOrCancels(
      clean({
        effects: effectsOf(ended, ['o1']),
        cancelAnswers: answers([
          ['o3', { status: 202 }],
          ['o1', { status: 409, currentStatus: 'SHIPPED' }],
        ]),
      }),
    );
    expect(verdict.failures).toEqual([]);
    expect(verdict.lost).toEqual([]);
    expect(verdict.completed).toBe(1);
    expect(verdict.cancellation).toEqual({
      accepted: 1,
      refused: 1,
      cancelled: 1,
      cancelledFrom: { CONFIRMED: 1 },
      contradictions: [],
    });
  });

  it('counts a cancelled order whose stock question is not settled as lost', () => {
    const orders = new Map([...ended, ['o3', fact('CANCELLED', { cancelledFrom: 'PACKED' })]]);
    const verdict = endsOrCancels(clean({ effects: effectsOf(orders, ['o1']) }));
    expect(verdict.lost).toEqual(['o3']);
    expect(verdict.failures).toEqual([
      '1 accepted order(s) never ended SHIPPED, REJECTED or CANCELLED (stock given back), e.g. o3',
    ]);
  });

  it.each<[string, CancelAnswer, string]>([
    ['a 202 whose order shipped', { status: 202 }, 'o1: 202, ended SHIPPED'],
    ['a 409 whose order was cancelled', { status: 409 }, 'o3: 409, ended CANCELLED'],
  ])('fails %s', (_, answer, example) => {
    const orderId = example.slice(0, 2);
    const verdict = endsOrCancels(
      clean({
        effects: effectsOf(ended, ['o1']),
        cancelAnswers: answers([[orderId, answer]]),
      }),
    );
    expect(verdict.failures).toEqual([`1 cancel answer(s) contradict the order's end, e.g. ${example}`]);
  });
});

describe('killScenarios', () => {
  it('names each scenario as its key, and only runtime-kill-cancel cancels or accepts an unshipped end', () => {
    for (const name of killScenarioNames) expect(killScenarios[name].name).toBe(name);
    const cancelling = killScenarioNames.filter((name) => killScenarios[name].cancels);
    expect(cancelling).toEqual(['runtime-kill-cancel']);
    const lenient = killScenarioNames.filter((name) => killScenarios[name].verdict === endsOrCancels);
    expect(lenient).toEqual(['runtime-kill-cancel']);
  });

  it('replays only in replay, and runs every other scenario with a fault', () => {
    expect(killScenarioNames.filter((name) => killScenarios[name].after === 'replay')).toEqual(['replay']);
    expect(killScenarioNames.filter((name) => !killScenarios[name].fault)).toEqual(['replay']);
  });

  it.each([
    ['broker-kill', { kafka: undefined, dynamodb: {} }, /broker is external/],
    ['dynamodb-kill', { kafka: {}, dynamodb: undefined }, /DynamoDB endpoint is external/],
  ] as const)('skips %s on a stack whose service it did not start', (name, restart, reason) => {
    const cannotRun = killScenarios[name].cannotRun;
    expect(cannotRun?.({ restart } as never)).toMatch(reason);
    expect(cannotRun?.({ restart: { kafka: {}, dynamodb: {} } } as never)).toBeUndefined();
  });
});

describe('poisonVerdict', () => {
  const letter = (originalKey: string, reason = 'poison'): DeadLetter => ({
    reason,
    originalKey,
    sourceTopic: 'OrderPlaced',
  });
  const injected = new Set(['poison-r-0', 'poison-r-1']);

  it('passes when every poison record is on DeadLetterQueue, whatever else is there and however often', () => {
    const letters = [letter('poison-r-0'), letter('poison-r-1'), letter('poison-r-1'), letter('bench-r-9')];
    expect(poisonVerdict(injected, letters)).toEqual({
      poison: { injected: 2, inDeadLetterQueue: 2 },
      failures: [],
    });
  });

  it('fails a poison record missing from DeadLetterQueue', () => {
    expect(poisonVerdict(injected, [letter('poison-r-1'), letter('bench-r-0')])).toEqual({
      poison: { injected: 2, inDeadLetterQueue: 1 },
      failures: ['1 of 2 poison record(s) missing from DeadLetterQueue'],
    });
  });
});
