import type { StepName } from '../../events/envelope.ts';
import type { KpiName, KpiRecorded } from '../../events/schemas/events.ts';
import { implausibility } from '../../functions/kpis/plausibility.ts';
import type { Span } from '../../functions/shared/spans.ts';
import { SpanSchema, type WaterfallRow, waterfall } from './waterfall.ts';

/** Rates are over this window: long enough to smooth batches, short enough to fall back to 0. */
const RATE_WINDOW_MS = 10_000;
/** Latency percentiles are over each step's most recent measurements. */
const LATENCY_SAMPLES = 1_000;
const LAST_ORDERS = 15;
/**
 * The most recent steps kept per order: a journey has under a dozen (order-api, inventory, warehouse,
 * shipper, a notification each, a cancellation), so the snapshot stays small whatever records claim.
 */
export const MAX_STEPS_PER_ORDER = 20;
/** Spans are kept for this many orders (the most recent), at most so many per order. */
const TRACED_ORDERS = 100;
export const MAX_SPANS_PER_ORDER = 200;
/** The live charts: one point per bucket over the last few minutes. */
const HISTORY_BUCKET_MS = 5_000;
const HISTORY_BUCKETS = 60;
/** Ignored records are logged for the first few, then once every so many. */
const LOG_FIRST_IGNORED = 10;
const LOG_IGNORED_EVERY = 1_000;

export interface Percentiles {
  p50: number | null;
  p99: number | null;
  samples: number;
}

export interface OrderTimeline {
  orderId: string;
  /** The steps that moved the order, in the order their KPI records arrived, with when they measured it. */
  steps: { step: StepName; at: string }[];
  /** Its hops in causal order with millisecond offsets, from the spans the functions recorded. */
  waterfall: WaterfallRow[];
}

/** One point of the live charts: per second over its bucket. */
export interface HistoryPoint {
  at: string;
  received: number;
  shipped: number;
  /** Median end-to-end latency of the orders that finished in the bucket; null when none did. */
  endToEndP50: number | null;
}

export interface ConsumerLag {
  function: string;
  groupId: string;
  topic: string;
  /** Records on the topic the group has not committed yet; null before the group committed anything. */
  lag: number | null;
}

export interface DashboardSnapshot {
  at: string;
  /** Orders each step moved per second, over the last few seconds. */
  ordersPerSecond: Partial<Record<StepName, number>>;
  stepLatency: Partial<Record<StepName, Percentiles>>;
  endToEndLatency: Percentiles;
  counts: { received: number; confirmed: number; rejected: number; cancelled: number; shipped: number };
  /**
   * Poison records the steps dead-lettered (their KPIs), and the dead letters on the dead-letter topic
   * (`dlq:replay`'s markers there are none).
   */
  deadLetters: { byKpis: number; onTopic: number | null };
  consumerLag: ConsumerLag[];
  lastOrders: OrderTimeline[];
  /** The last few minutes, oldest first, every bucket present (0 when nothing happened). */
  history: HistoryPoint[];
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0
    ? null
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null);

const percentilesOf = (values: readonly number[]): Percentiles => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: sorted.length };
};

const pushBounded = <T>(list: T[], values: readonly T[], max: number) => {
  list.push(...values);
  if (list.length > max) list.splice(0, list.length - max);
};

/** Re-inserted at the end: a map's order is then its keys' most recent activity. */
const reinsert = <K, V>(map: Map<K, V>, key: K, value: V) => {
  map.delete(key);
  map.set(key, value);
};

/** Deletes the least recently re-inserted keys beyond `max`. */
const keepNewest = <K, V>(map: Map<K, V>, max: number) => {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
};

const COUNTED: Record<keyof DashboardSnapshot['counts'], KpiName> = {
  received: 'OrdersReceived',
  confirmed: 'OrdersConfirmed',
  rejected: 'OrdersRejected',
  cancelled: 'OrdersCancelled',
  shipped: 'OrdersShipped',
};

/**
 * What the local dashboard shows, from the KPI records the `kpis` function read (in this process), plus
 * what Kafka says about the consumer groups. Bounded: a window of arrivals, a few samples per step and
 * the last orders only.
 */
export class DashboardAggregator {
  private readonly arrivals: { at: number; step: StepName; orders: number }[] = [];
  private readonly stepLatency = new Map<StepName, number[]>();
  private readonly endToEnd: number[] = [];
  private readonly totals = new Map<KpiName, number>();
  private readonly orders = new Map<string, Omit<OrderTimeline, 'waterfall'>>();
  private readonly spans = new Map<string, Span[]>();
  private readonly buckets = new Map<number, { received: number; shipped: number; endToEnd: number[] }>();
  private lag: ConsumerLag[] = [];
  private deadLettersOnTopic: number | null = null;
  private readonly listeners = new Set<() => void>();
  private ignored = 0;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /**
   * Adds what each record measured; a record its step cannot have measured (see `implausibility`: the
   * kpis function dead-letters those already, this holds for any other caller too) is ignored and logged.
   */
  record(records: readonly KpiRecorded[]): void {
    const now = this.clock();
    for (const record of records) {
      const problem = implausibility(record);
      if (problem) {
        this.ignore(problem);
        continue;
      }
      const { data, occurredAt } = record;
      this.arrivals.push({ at: now, step: data.step, orders: data.orderIds.length });
      this.addToHistory(now, data.metrics);
      for (const { name, values } of data.metrics) {
        if (name === 'StepLatency') {
          const samples = this.stepLatency.get(data.step) ?? [];
          pushBounded(samples, values, LATENCY_SAMPLES);
          this.stepLatency.set(data.step, samples);
        } else if (name === 'EndToEndLatency') pushBounded(this.endToEnd, values, LATENCY_SAMPLES);
        else this.totals.set(name, (this.totals.get(name) ?? 0) + values.reduce((a, b) => a + b, 0));
      }
      for (const orderId of new Set(data.orderIds)) this.moved(orderId, data.step, occurredAt);
    }
    keepNewest(this.orders, LAST_ORDERS);
    this.changed();
  }

  /** One step of an order's timeline: once per step and time, the most recent ones only. */
  private moved(orderId: string, step: StepName, at: string): void {
    const timeline = this.orders.get(orderId) ?? { orderId, steps: [] };
    if (!timeline.steps.some((s) => s.step === step && s.at === at))
      pushBounded(timeline.steps, [{ step, at }], MAX_STEPS_PER_ORDER);
    reinsert(this.orders, orderId, timeline);
  }

  /** One bucket of the live charts gains what a KPIs record measured. */
  private addToHistory(now: number, metrics: KpiRecorded['data']['metrics']): void {
    const start = now - (now % HISTORY_BUCKET_MS);
    const bucket = this.buckets.get(start) ?? { received: 0, shipped: 0, endToEnd: [] };
    for (const { name, values } of metrics) {
      const sum = values.reduce((a, b) => a + b, 0);
      if (name === 'OrdersReceived') bucket.received += sum;
      else if (name === 'OrdersShipped') bucket.shipped += sum;
      else if (name === 'EndToEndLatency') pushBounded(bucket.endToEnd, values, LATENCY_SAMPLES);
    }
    this.buckets.set(start, bucket);
    for (const at of this.buckets.keys())
      if (at <= start - HISTORY_BUCKETS * HISTORY_BUCKET_MS) this.buckets.delete(at);
  }

  /**
   * Adds the spans the functions recorded (they crossed a process boundary: each is checked, an invalid
   * one ignored and logged), kept per order for its waterfall.
   */
  recordSpans(spans: readonly unknown[]): void {
    for (const candidate of spans) {
      const parsed = SpanSchema.safeParse(candidate);
      if (!parsed.success) {
        this.ignore(
          `span: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`,
        );
        continue;
      }
      const span = parsed.data;
      const list = this.spans.get(span.orderId) ?? [];
      if (list.length < MAX_SPANS_PER_ORDER) list.push(span);
      reinsert(this.spans, span.orderId, list);
    }
    keepNewest(this.spans, TRACED_ORDERS);
    this.changed();
  }

  /** The live charts' points, oldest first, one per bucket of the window. */
  private history(now: number): HistoryPoint[] {
    const last = now - (now % HISTORY_BUCKET_MS);
    const perSecond = (n: number) => Math.round((n / (HISTORY_BUCKET_MS / 1000)) * 10) / 10;
    return Array.from({ length: HISTORY_BUCKETS }, (_, i) => {
      const start = last - (HISTORY_BUCKETS - 1 - i) * HISTORY_BUCKET_MS;
      const bucket = this.buckets.get(start);
      return {
        at: new Date(start).toISOString(),
        received: perSecond(bucket?.received ?? 0),
        shipped: perSecond(bucket?.shipped ?? 0),
        endToEndP50: bucket ? percentilesOf(bucket.endToEnd).p50 : null,
      };
    });
  }

  private ignore(problem: string): void {
    this.ignored += 1;
    if (this.ignored <= LOG_FIRST_IGNORED || this.ignored % LOG_IGNORED_EVERY === 0)
      this.log(`[dashboard] KPIs record ignored (${this.ignored} so far): ${problem}`);
  }

  setKafkaState(state: { lag: ConsumerLag[]; deadLettersOnTopic: number | null }): void {
    this.lag = state.lag;
    this.deadLettersOnTopic = state.deadLettersOnTopic;
    this.changed();
  }

  /** Called after every change; returns the unsubscription. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): DashboardSnapshot {
    const now = this.clock();
    while ((this.arrivals[0]?.at ?? now) < now - RATE_WINDOW_MS) this.arrivals.shift();
    const moved: Partial<Record<StepName, number>> = {};
    for (const { step, orders } of this.arrivals) moved[step] = (moved[step] ?? 0) + orders;
    const ordersPerSecond = Object.fromEntries(
      Object.entries(moved).map(([step, n]) => [step, Math.round((n / (RATE_WINDOW_MS / 1000)) * 10) / 10]),
    );
    const total = (name: KpiName) => this.totals.get(name) ?? 0;
    return {
      at: new Date(now).toISOString(),
      ordersPerSecond,
      stepLatency: Object.fromEntries([...this.stepLatency].map(([step, v]) => [step, percentilesOf(v)])),
      endToEndLatency: percentilesOf(this.endToEnd),
      counts: Object.fromEntries(
        Object.entries(COUNTED).map(([key, name]) => [key, total(name)]),
      ) as DashboardSnapshot['counts'],
      deadLetters: { byKpis: total('RecordsDeadLettered'), onTopic: this.deadLettersOnTopic },
      consumerLag: this.lag,
      lastOrders: [...this.orders.values()].reverse().map((order) => ({
        ...order,
        waterfall: waterfall(this.spans.get(order.orderId) ?? []),
      })),
      history: this.history(now),
    };
  }

  private changed() {
    for (const listener of this.listeners) listener();
  }
}
