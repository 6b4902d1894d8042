/**
 * The scenarios of `npm run chaos` as data: the faults (kills, rebalances, replay, poison, crashing
 * records, cancels; ./chaos-faults.ts) and the injected AWS errors (issue #20: the fault profile the
 * runtime starts with, the orders sent against which stock). Per scenario what runs while the orders flow
 * and after the drain, and a pure `verdict(effects)`: it reads only what the run left behind, so it is
 * unit-tested without a broker (./chaos-scenarios.test.ts, ./chaos-aws.test.ts). ./chaos-run.ts runs them.
 */
import { type CatalogEntry, catalogBySku } from '../../functions/shared/catalog.ts';
import { flashSaleProfile } from '../../local/faults/flash-sale.ts';
import {
  builtInFaultProfile,
  type FaultCounters,
  type FaultKind,
  type FaultProfile,
} from '../../local/faults/profile.ts';
import {
  brokerKill,
  CRASH_WRAPPER,
  crashPoison,
  dynamodbKill,
  type Fault,
  list,
  poison,
  runtimeJoinKill,
  runtimeJoinLeave,
  runtimeKill,
} from './chaos-faults.ts';
import { benchOrder, type OrderBody } from './orders.ts';
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

/** Only a service this run started can be killed (and started again). */
const own = (service: 'kafka' | 'dynamodb', external: string) => (stack: BenchStack) =>
  stack.restart[service] ? undefined : `${external}: only one this run started can be killed`;

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
  'dynamodb-kill': {
    fault: dynamodbKill,
    cannotRun: own('dynamodb', 'the DynamoDB endpoint is external (DYNAMODB_ENDPOINT)'),
  },
  'broker-kill': { fault: brokerKill, cannotRun: own('kafka', 'the broker is external (KAFKA_BROKERS)') },
} satisfies Record<string, KillScenario>;
export const killScenarioNames = Object.keys(kill) as (keyof typeof kill)[];

/** The nine fault scenarios by name: every one ships everything but runtime-kill-cancel. */
export const killScenarios = Object.fromEntries(
  Object.entries(kill).map(([name, s]) => [name, { name, verdict: shipsEverything, ...s }]),
) as Record<keyof typeof kill, Scenario>;

// ---- The injected AWS errors (issue #20): a fault profile in front of DynamoDB and SNS, no kill ----------

/** Transient errors must never put a record on DeadLetterQueue. */
function deadLetterFailures(e: ScenarioEffects): string[] {
  const deadLettered = list(e.deadLettered, '');
  return deadLettered ? [`records dead-lettered under transient errors: ${deadLettered}`] : [];
}

/** A scenario must be able to fail: it fails when its profile injected nothing of a kind it is about. */
function injectionFailures(faults: FaultCounters | undefined, kinds: readonly FaultKind[]): string[] {
  if (!faults) return ['the runtime had no fault layer: nothing was injected'];
  return kinds
    .filter((kind) => (faults.byKind[kind] ?? 0) === 0)
    .map((kind) => `no ${kind} was injected (${faults.requests} requests through the fault layer)`);
}

/** A scenario of the demo orders (one to three lines, plentiful stock) under a built-in profile. */
function loadScenario(name: string, profileName: string, kinds: readonly FaultKind[]): Scenario {
  return {
    name,
    defaults: { orders: 1_000, rate: 20 },
    profile: () => builtInFaultProfile(profileName) as FaultProfile,
    verdict: (e) => {
      const verdict = shipsEverything(e);
      verdict.failures.push(...deadLetterFailures(e), ...injectionFailures(e.faults, kinds));
      return verdict;
    },
  };
}

/** The one SKU of the flash sale: the demo's limited vinyl, stocked for the sale. */
export const FLASH_SALE_SKU = 'SKU-VINYL-LTD';

/**
 * Rules of `profile` that were expected to fire at least 5 times (requests they matched × their rate) and
 * never did: the injection is not working (the chance of no injection is then below e^−5, under 1%).
 */
export function silentRules(profile: FaultProfile, faults: FaultCounters | undefined): string[] {
  return profile.rules.flatMap((rule) => {
    const counts = rule.name ? faults?.byRule[rule.name] : undefined;
    if (!rule.name || !counts || rule.rate === 0) return [];
    return counts.matched * rule.rate >= 5 && counts.fired === 0 ? [rule.name] : [];
  });
}

/** Exactly the stock shipped, every other order rejected and told once, nothing oversold or lost. Pure. */
function flashSaleVerdict(e: ScenarioEffects) {
  const ended = (orderId: string) =>
    ['SHIPPED', 'REJECTED'].includes(e.effects.orders.get(orderId)?.status ?? '');
  const verdict = invariants(e, 'ended SHIPPED or REJECTED', ended);
  const failures = [...verdict.failures, ...deadLetterFailures(e)];
  const shipped = e.effects.statuses.SHIPPED ?? 0;
  const rejected = e.effects.statuses.REJECTED ?? 0;
  const expectedShipped = Math.min(e.stock, e.accepted.length);
  if (shipped > e.stock) failures.push(`oversold: ${shipped} units shipped of ${e.stock} in stock`);
  else if (shipped !== expectedShipped)
    failures.push(`${shipped} unit(s) shipped, not ${expectedShipped} (${e.stock} in stock)`);
  if (rejected !== e.accepted.length - expectedShipped)
    failures.push(`${rejected} order(s) rejected, not ${e.accepted.length - expectedShipped}`);
  if (!e.faults) failures.push('the runtime had no fault layer: nothing was injected');
  for (const rule of e.profile ? silentRules(e.profile, e.faults) : [])
    failures.push(`${rule} never fired, though the model’s rate made it likely`);
  return { ...verdict, failures };
}

/** The warm-up orders' SKU in the flash sale (stocked like the sale's, never faulted). */
export const WARMUP_SKU = 'SKU-TSHIRT-M';
/** A warm-up order's id: of the run (checked like the others), never counted as one of its orders. */
export const isWarmup = (orderId: string): boolean => orderId.includes('-warmup-');

/** Order `index` of the run: one unit of `sku` (`tag` in its id after the run's). */
const oneUnitOf =
  (sku: string, tag = '') =>
  (runId: string, index: number, entries: readonly CatalogEntry[]) => {
    const entry = entries.find((e) => e.sku === sku) as CatalogEntry;
    const { items: _items, ...order } = benchOrder(runId, index, [entry]);
    const items = [{ sku, name: entry.name, quantity: 1, unitPrice: entry.unitPrice }];
    return { ...order, orderId: `bench-${runId}-${tag}${index}`, items };
  };

export const flashSale = {
  name: 'flash-sale',
  defaults: { orders: 2_000, rate: 100 },
  stockFor: (orders: number) => Math.max(1, Math.round(orders / 4)),
  catalog: (stock: number) =>
    [FLASH_SALE_SKU, WARMUP_SKU].map((sku) => ({
      ...(catalogBySku.get(sku) as CatalogEntry),
      initialStock: stock,
    })),
  order: oneUnitOf(FLASH_SALE_SKU),
  // Cold starts would otherwise take the first seconds, while the stock sells.
  warmup: { orders: 20, order: oneUnitOf(WARMUP_SKU, 'warmup-') },
  // The rates topology/contention.ts predicts for this many orders/s on one stock item.
  profile: ({ orders, rate }: RunSize) =>
    flashSaleProfile({ sku: FLASH_SALE_SKU, orders, seconds: orders / rate }),
  verdict: flashSaleVerdict,
} satisfies Scenario;

export const awsScenarios = {
  // Transaction conflicts on the inventory, single-item write conflicts on inventory and orders.
  'ddb-contention': loadScenario('ddb-contention', 'contention', [
    'TransactionCanceledException',
    'TransactionConflictException',
  ]),
  // Throttling of the inventory, orders and idempotency tables.
  'ddb-throttling': loadScenario('ddb-throttling', 'throttling', [
    'ThrottlingException',
    'ProvisionedThroughputExceededException',
    'TransactionCanceledException',
  ]),
  // DynamoDB 500s and dropped connections before and after the write; SNS 500s.
  'ddb-errors': loadScenario('ddb-errors', 'errors', ['InternalServerError', 'drop', 'InternalError']),
  'sns-throttling': loadScenario('sns-throttling', 'sns-throttling', ['Throttling']),
  'flash-sale': flashSale,
} satisfies Record<string, Scenario>;

/** Every scenario of both families, by name, in the order `all` runs them. */
export const scenarios: Record<string, Scenario> = { ...killScenarios, ...awsScenarios };
