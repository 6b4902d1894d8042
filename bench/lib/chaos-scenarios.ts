/**
 * The scenarios of `npm run chaos` as data: here the faults (kills, rebalances, replay, poison, crashing
 * records, cancels), in ./chaos-aws.ts the injected AWS errors. Per scenario its fault (./chaos-faults.ts,
 * ./chaos-crash.ts), what runs while the orders flow and after the drain, and a pure `verdict(effects)`
 * unit-tested without a broker (./chaos-scenarios.test.ts). ./chaos-run.ts runs both families.
 */

import type { CatalogEntry } from '../../functions/shared/catalog.ts';
import type { FaultCounters, FaultProfile } from '../../local/faults/profile.ts';
import {
  brokerKill,
  CRASH_WRAPPER,
  crashPoison,
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

/** What a run left behind, as a verdict reads it: its measured orders (a warm-up's are left out). */
export interface ScenarioEffects {
  accepted: readonly string[];
  /** The first error of each order never answered 202 despite the client's retries. */
  notAccepted: readonly string[];
  stock: number;
  effects: Pick<EffectsReport, 'statuses' | 'orders' | 'shipped' | 'stockMismatches' | 'doubleReservedUnits'>;
  notifications: Pick<NotificationCheck, 'duplicates' | 'missing'>;
  /** This run's records on DeadLetterQueue, by reason. */
  deadLettered: Record<string, number>;
  /** The fault's own failures (its run and its verdict on the evidence), and the cancels that failed. */
  faultFailures: readonly string[];
  cancelAnswers?: ReadonlyMap<string, CancelAnswer>;
  /** Injected AWS errors: the runtime's fault profile, and its fault layer's counters at the end. */
  profile?: FaultProfile;
  faults?: FaultCounters;
}

export interface Verdict {
  failures: string[];
  /** Accepted orders that never ended as the scenario requires. */
  lost: string[];
  /** Accepted orders shipped. */
  completed: number;
  cancellation?: CancellationCheck;
}

/**
 * The invariants every scenario keeps, the fault's own failures first: every accepted order ended as
 * `ended` says, every order accepted, no notice recorded twice or missing, stock that adds up, no unit
 * reserved twice. Pure.
 */
export function invariants(e: ScenarioEffects, ending: string, ended: (orderId: string) => boolean): Verdict {
  const lost = e.accepted.filter((orderId) => !ended(orderId));
  const failures = [...e.faultFailures];
  if (lost.length > 0)
    failures.push(`${lost.length} accepted order(s) never ${ending}, e.g. ${lost.slice(0, 3).join(', ')}`);
  if (e.notAccepted.length > 0)
    failures.push(`${e.notAccepted.length} order(s) never accepted: ${e.notAccepted[0]}`);
  const { duplicates, missing } = e.notifications;
  const [d] = duplicates;
  if (d)
    failures.push(
      `${duplicates.length} notification(s) recorded more than once, e.g. ${d.kind} of ${d.orderId}: recorded ${d.recorded}, sent ${d.delivered ?? '?'}`,
    );
  const [m] = missing;
  if (m)
    failures.push(`${missing.length} notification(s) missing, e.g. ${m.kind} of ${m.orderId} (${m.problem})`);
  const [s] = e.effects.stockMismatches;
  if (s)
    failures.push(
      `stock does not add up for ${e.effects.stockMismatches.length} SKU(s), e.g. ${s.sku}: available ${s.available}, reserved ${s.reserved}, orders need ${s.expectedReserved} of ${s.initial}`,
    );
  if (e.effects.doubleReservedUnits > 0)
    failures.push(`${e.effects.doubleReservedUnits} unit(s) reserved twice`);
  const completed = e.accepted.filter((orderId) => e.effects.shipped.has(orderId)).length;
  return { failures, lost, completed };
}

/** Every accepted order shipped (its order-shipped notice recorded), the invariants kept. Pure. */
export const shipsEverything = (e: ScenarioEffects): Verdict =>
  invariants(e, 'shipped', (orderId) => e.effects.shipped.has(orderId));

/**
 * Every accepted order shipped, rejected, or cancelled with its stock given back; a 202 cancel always
 * ends CANCELLED, a 409 only a SHIPPED or REJECTED order. Pure.
 */
export function endsOrCancels(e: ScenarioEffects): Verdict {
  const ending = 'ended SHIPPED, REJECTED or CANCELLED (stock given back)';
  const verdict = invariants(e, ending, (orderId) => isFinal(e.effects.orders.get(orderId)));
  const cancellation = checkCancellations(e.cancelAnswers ?? new Map(), e.effects.orders);
  const [c] = cancellation.contradictions;
  if (c)
    verdict.failures.push(
      `${cancellation.contradictions.length} cancel answer(s) contradict the order's end, e.g. ${c.orderId}: ${c.answer}, ended ${c.finalStatus}`,
    );
  return { ...verdict, cancellation };
}

/** The size of a run: orders sent, at what rate, against how many units of each SKU. */
export interface RunSize {
  orders: number;
  rate: number;
  stock: number;
}

type OrderOf = (runId: string, index: number, entries: readonly CatalogEntry[]) => OrderBody;

/** A scenario of either family; ./chaos-run.ts reads it (a field absent: the plain run). */
export interface Scenario {
  name: string;
  verdict: (effects: ScenarioEffects) => Verdict;
  /** Its own defaults of --orders and --rate. */
  defaults?: { orders: number; rate: number };
  /** Units of each SKU stocked for `orders` orders (default: ./orders.ts's `stockFor`). */
  stockFor?: (orders: number) => number;
  /** The catalog stocked with `stock` units of each SKU (default: the demo catalog). */
  catalog?: (stock: number) => CatalogEntry[];
  /** Order `index` of the run (default: ./orders.ts's `benchOrder`). */
  order?: OrderOf;
  /** Orders sent and waited for before the measured ones (warm environments), left out of the verdict. */
  warmup?: { orders: number; order: OrderOf };
  /** The runtimes' fault layer in front of DynamoDB and SNS, for the whole run (counting rules added). */
  profile?: (size: RunSize) => FaultProfile;
  /** Why it cannot run on `stack` (it kills a service only a run that started it may kill), if it cannot. */
  cannotRun?: (stack: BenchStack) => string | undefined;
  /** Bundled around every handler of its runtimes (crash-poison). */
  handlerWrapper?: string;
  /** Armed once the first runtime is up; breaks something while the orders flow. */
  fault?: Fault;
  /** While the orders flow: the driver cancels a share of the accepted orders, at random moments. */
  cancels?: boolean;
  /** After the drain, before the read-back: the replay of the whole run. */
  after?: 'replay';
}

const ownBroker = (stack: BenchStack) =>
  stack.kafka
    ? undefined
    : 'the broker is external (KAFKA_BROKERS): only a broker this run started can be killed';
const ownDynamoDb = (stack: BenchStack) =>
  stack.dynamodb
    ? undefined
    : 'the DynamoDB endpoint is external (DYNAMODB_ENDPOINT): only an endpoint this run started can be killed';

type KillScenario = Omit<Scenario, 'name' | 'verdict'> & Partial<Pick<Scenario, 'verdict'>>;

// Replay first: on a broker of its own it then really starts from the beginning of every topic.
const kill = {
  replay: { after: 'replay' },
  poison: { fault: poison },
  'crash-poison': { fault: crashPoison, handlerWrapper: CRASH_WRAPPER },
  'runtime-join': { fault: runtimeJoinLeave },
  'runtime-join-kill': { fault: runtimeJoinKill },
  'runtime-kill': { fault: runtimeKill },
  'runtime-kill-cancel': { fault: runtimeKill, cancels: true, verdict: endsOrCancels },
  'dynamodb-kill': { fault: dynamodbKill, cannotRun: ownDynamoDb },
  'broker-kill': { fault: brokerKill, cannotRun: ownBroker },
} satisfies Record<string, KillScenario>;
export const killScenarioNames = Object.keys(kill) as (keyof typeof kill)[];

/** The nine fault scenarios by name: every one ships everything but runtime-kill-cancel. */
export const killScenarios = Object.fromEntries(
  Object.entries(kill).map(([name, s]) => [name, { name, verdict: shipsEverything, ...s }]),
) as Record<keyof typeof kill, Scenario>;
