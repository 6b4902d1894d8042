/**
 * The fault scenarios of `npm run chaos` (kills, rebalances, replay, poison, crashing records, cancels) as
 * data, like the injected-error ones of ./chaos-aws.ts: per scenario its fault (./chaos-faults.ts,
 * ./chaos-crash.ts), what runs while the orders flow (the cancels of runtime-kill-cancel) and after the
 * drain (the replay), and a pure `verdict(effects)` unit-tested without a broker
 * (./chaos-scenarios.test.ts). `RunShape` is what a scenario of either family may say about its run;
 * ./chaos-run.ts runs both families.
 */

import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import type { FaultProfile } from '../../local/faults/profile.ts';
import { CRASH_WRAPPER, crashPoison } from './chaos-crash.ts';
import {
  brokerKill,
  dynamodbKill,
  type Fault,
  poison,
  runtimeJoinKill,
  runtimeJoinLeave,
  runtimeKill,
} from './chaos-faults.ts';
import type { OrderBody } from './orders.ts';
import type { BenchStack } from './stack.ts';
import {
  type CancelAnswer,
  type CancellationCheck,
  checkCancellations,
  type EffectsReport,
  isFinal,
  type NotificationCheck,
} from './verify.ts';

// Replay first: on a broker of its own it then really starts from the beginning of every topic.
export const killScenarioNames = [
  'replay',
  'poison',
  'crash-poison',
  'runtime-join',
  'runtime-join-kill',
  'runtime-kill',
  'runtime-kill-cancel',
  'dynamodb-kill',
  'broker-kill',
] as const;
export type KillScenarioName = (typeof killScenarioNames)[number];

/** What a run left behind, as a scenario's verdict reads it. */
export interface KillScenarioEffects {
  /** Orders answered 202. */
  accepted: readonly string[];
  /** The first error of each order never answered 202 despite the client's retries. */
  notAccepted: readonly string[];
  effects: Pick<EffectsReport, 'orders' | 'shipped' | 'stockMismatches'>;
  notifications: Pick<NotificationCheck, 'duplicates' | 'missing'>;
  /** The fault's own failures (its run and its verdict on the evidence), and the cancels that failed. */
  faultFailures: readonly string[];
  /** runtime-kill-cancel: how each cancel sent was answered in the end. */
  cancelAnswers?: ReadonlyMap<string, CancelAnswer>;
}

export interface KillVerdict {
  failures: string[];
  /** Accepted orders that never ended as the scenario requires. */
  lost: string[];
  /** Accepted orders shipped (every scenario but runtime-kill-cancel: every one not lost). */
  completed: number;
  cancellation?: CancellationCheck;
}

/** The invariants every run keeps, after the fault's own failures, in the order the table prints them. */
function invariantFailures(e: KillScenarioEffects, lost: readonly string[], ending: string): string[] {
  const failures = [...e.faultFailures];
  if (lost.length > 0)
    failures.push(`${lost.length} accepted order(s) never ${ending}, e.g. ${lost.slice(0, 3).join(', ')}`);
  return failures;
}

function deliveryFailures(e: KillScenarioEffects): string[] {
  const failures: string[] = [];
  if (e.notAccepted.length > 0)
    failures.push(`${e.notAccepted.length} order(s) never accepted: ${e.notAccepted[0]}`);
  return [...failures, ...recordFailures(e)];
}

/** Notices recorded twice or missing, stock that does not add up: what every scenario of both families checks. Pure. */
export function recordFailures(e: {
  notifications: Pick<NotificationCheck, 'duplicates' | 'missing'>;
  effects: Pick<EffectsReport, 'stockMismatches'>;
}): string[] {
  const failures: string[] = [];
  const [d] = e.notifications.duplicates;
  if (d)
    failures.push(
      `${e.notifications.duplicates.length} notification(s) recorded more than once, e.g. ${d.kind} of ${d.orderId}: recorded ${d.recorded}, sent ${d.delivered ?? '?'}`,
    );
  const [m] = e.notifications.missing;
  if (m)
    failures.push(
      `${e.notifications.missing.length} notification(s) missing, e.g. ${m.kind} of ${m.orderId} (${m.problem})`,
    );
  const [s] = e.effects.stockMismatches;
  if (s)
    failures.push(
      `stock does not add up for ${e.effects.stockMismatches.length} SKU(s), e.g. ${s.sku}: available ${s.available}, reserved ${s.reserved}, orders need ${s.expectedReserved} of ${s.initial}`,
    );
  return failures;
}

/** Every accepted order shipped, nothing doubled, missing or out of stock. Pure. */
export function shipsEverything(e: KillScenarioEffects): KillVerdict {
  const lost = e.accepted.filter((orderId) => !e.effects.shipped.has(orderId));
  return {
    failures: [...invariantFailures(e, lost, 'shipped'), ...deliveryFailures(e)],
    lost,
    completed: e.accepted.length - lost.length,
  };
}

/**
 * Every accepted order shipped, rejected, or cancelled with its stock given back; a 202 cancel always
 * ends CANCELLED, a 409 only a SHIPPED or REJECTED order. Pure.
 */
export function endsOrCancels(e: KillScenarioEffects): KillVerdict {
  const lost = e.accepted.filter((orderId) => !isFinal(e.effects.orders.get(orderId)));
  const cancellation = checkCancellations(e.cancelAnswers ?? new Map(), e.effects.orders);
  const failures = invariantFailures(e, lost, 'ended SHIPPED, REJECTED or CANCELLED (stock given back)');
  const [c] = cancellation.contradictions;
  if (c)
    failures.push(
      `${cancellation.contradictions.length} cancel answer(s) contradict the order's end, e.g. ${c.orderId}: ${c.answer}, ended ${c.finalStatus}`,
    );
  return {
    failures: [...failures, ...deliveryFailures(e)],
    lost,
    completed: e.accepted.filter((orderId) => e.effects.shipped.has(orderId)).length,
    cancellation,
  };
}

/** The size of a run: orders sent, at what rate, against how many units of each SKU. */
export interface RunSize {
  orders: number;
  rate: number;
  stock: number;
}

/** How a scenario of either family shapes its run (./chaos-run.ts reads it; absent: the plain run). */
export interface RunShape {
  /** Units of each SKU stocked for `orders` orders (default: ./orders.ts's `stockFor`). */
  stockFor?: (orders: number) => number;
  /** The catalog stocked with `stock` units of each SKU (default: the demo catalog). */
  catalog?: (stock: number) => CatalogEntry[];
  /** Order `index` of the run (default: ./orders.ts's `benchOrder`). */
  order?: (runId: string, index: number, entries: readonly CatalogEntry[]) => OrderBody;
  /**
   * Orders sent, and waited for, before the measured ones, on a SKU of their own: the measured orders meet
   * warm execution environments. They are left out of the verdict's orders and of the figures.
   */
  warmup?: {
    orders: number;
    order: (runId: string, index: number, entries: readonly CatalogEntry[]) => OrderBody;
  };
  /** The runtimes' fault layer in front of DynamoDB and SNS, for the whole run (counting rules added). */
  profile?: (size: RunSize) => FaultProfile;
  /** Why it cannot run on `stack` (it kills a service only a run that started it may kill), if it cannot. */
  cannotRun?: (stack: BenchStack) => string | undefined;
  /** Bundled around every handler of its runtimes (crash-poison). */
  handlerWrapper?: string;
  /** Armed once the first runtime is up; breaks something while the orders flow. */
  fault?: Fault;
  /** While the orders flow: the driver cancels this share of the accepted orders, at random moments. */
  cancels?: boolean;
  /** After the drain, before the read-back: the replay of the whole run. */
  after?: 'replay';
}

export interface KillScenario extends RunShape {
  name: KillScenarioName;
  verdict: (effects: KillScenarioEffects) => KillVerdict;
}

const ownBroker = (stack: BenchStack) =>
  stack.kafka
    ? undefined
    : 'the broker is external (KAFKA_BROKERS): only a broker this run started can be killed';
const ownDynamoDb = (stack: BenchStack) =>
  stack.dynamodb
    ? undefined
    : 'the DynamoDB endpoint is external (DYNAMODB_ENDPOINT): only an endpoint this run started can be killed';

export const killScenarios: Record<KillScenarioName, KillScenario> = {
  replay: { name: 'replay', after: 'replay', verdict: shipsEverything },
  poison: { name: 'poison', fault: poison, verdict: shipsEverything },
  'crash-poison': {
    name: 'crash-poison',
    fault: crashPoison,
    handlerWrapper: CRASH_WRAPPER,
    verdict: shipsEverything,
  },
  'runtime-join': { name: 'runtime-join', fault: runtimeJoinLeave, verdict: shipsEverything },
  'runtime-join-kill': { name: 'runtime-join-kill', fault: runtimeJoinKill, verdict: shipsEverything },
  'runtime-kill': { name: 'runtime-kill', fault: runtimeKill, verdict: shipsEverything },
  'runtime-kill-cancel': {
    name: 'runtime-kill-cancel',
    fault: runtimeKill,
    cancels: true,
    verdict: endsOrCancels,
  },
  'dynamodb-kill': {
    name: 'dynamodb-kill',
    fault: dynamodbKill,
    cannotRun: ownDynamoDb,
    verdict: shipsEverything,
  },
  'broker-kill': { name: 'broker-kill', fault: brokerKill, cannotRun: ownBroker, verdict: shipsEverything },
};
