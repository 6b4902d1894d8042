import type { StepName } from '../../events/envelope.ts';
import type { KpiName, KpiRecorded } from '../../events/schemas/events.ts';
import { implausibility } from '../../functions/kpis/plausibility.ts';
import type { Span } from '../../functions/shared/spans.ts';
import type { ConsumerLag } from './kafka-state.ts';
import { SpanSchema, waterfall } from './waterfall.ts';

/** Rates are over this window: long enough to smooth batches, short enough to fall back to 0. */
const RATE_WINDOW_MS = 10_000;
/** Latency percentiles are over each step's most recent measurements. */
const LATENCY_SAMPLES = 1_000;
const LAST_ORDERS = 15;
/** A journey has under a dozen steps, so the snapshot stays small whatever records claim. */
export const MAX_STEPS_PER_ORDER = 20;
/** Spans are kept for this many orders (the most recent), at most so many per order. */
const TRACED_ORDERS = 100;
export const MAX_SPANS_PER_ORDER = 200;
/** The live charts: one point per bucket over the last five minutes. */
const HISTORY_BUCKET_MS = 5_000;
const HISTORY_BUCKETS = 60;
/** Ignored records are logged for the first few, then once every so many. */
const LOG_FIRST_IGNORED = 10;
const LOG_IGNORED_EVERY = 1_000;

const COUNTED = {
  received: 'OrdersReceived',
  confirmed: 'OrdersConfirmed',
  rejected: 'OrdersRejected',
  cancelled: 'OrdersCancelled',
  shipped: 'OrdersShipped',
} as const satisfies Record<string, KpiName>;

/** Nearest-rank percentiles; null without samples. */
function percentilesOf(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length === 0 ? null : (sorted[Math.floor((p / 100) * sorted.length)] as number);
  return { p50: at(50), p99: at(99), samples: sorted.length };
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const perSecond = (n: number, ms: number) => Math.round((n / (ms / 1000)) * 10) / 10;

const pushBounded = <T>(list: T[], values: readonly T[], max: number) => {
  list.push(...values);
  if (list.length > max) list.splice(0, list.length - max);
};

/** Re-inserted at the end: a map's order is then its keys' most recent activity. */
const touch = <K, V>(map: Map<K, V>, key: K, value: V) => {
  map.delete(key);
  map.set(key, value);
};

/** Deletes the least recently touched keys beyond `max`. */
const keepNewest = <K, V>(map: Map<K, V>, max: number) => {
  for (const key of map.keys()) if (map.size > max) map.delete(key);
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
  /** Per order, the steps that moved it, in the order their KPI records arrived, with when they measured it. */
  private readonly orders = new Map<string, { step: StepName; at: string }[]>();
  private readonly spans = new Map<string, Span[]>();
  private readonly buckets = new Map<number, { received: number; shipped: number; endToEnd: number[] }>();
  private kafka: { lag: ConsumerLag[]; deadLettersOnTopic: number | null } = {
    lag: [],
    deadLettersOnTopic: null,
  };
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
      const bucket = this.bucketAt(now);
      for (const { name, values } of data.metrics) {
        if (name === 'StepLatency') {
          const samples = this.stepLatency.get(data.step) ?? [];
          pushBounded(samples, values, LATENCY_SAMPLES);
          this.stepLatency.set(data.step, samples);
        } else if (name === 'EndToEndLatency') {
          pushBounded(this.endToEnd, values, LATENCY_SAMPLES);
          pushBounded(bucket.endToEnd, values, LATENCY_SAMPLES);
        } else this.totals.set(name, (this.totals.get(name) ?? 0) + sum(values));
        if (name === 'OrdersReceived') bucket.received += sum(values);
        else if (name === 'OrdersShipped') bucket.shipped += sum(values);
      }
      for (const orderId of new Set(data.orderIds)) {
        // Once per step and time, the most recent ones only.
        const steps = this.orders.get(orderId) ?? [];
        if (!steps.some((s) => s.step === data.step && s.at === occurredAt))
          pushBounded(steps, [{ step: data.step, at: occurredAt }], MAX_STEPS_PER_ORDER);
        touch(this.orders, orderId, steps);
      }
    }
    keepNewest(this.orders, LAST_ORDERS);
    this.changed();
  }

  /** The live charts' bucket of `now`; the buckets older than the charts go. */
  private bucketAt(now: number) {
    const start = now - (now % HISTORY_BUCKET_MS);
    const bucket = this.buckets.get(start) ?? { received: 0, shipped: 0, endToEnd: [] };
    this.buckets.set(start, bucket);
    for (const at of this.buckets.keys())
      if (at <= start - HISTORY_BUCKETS * HISTORY_BUCKET_MS) this.buckets.delete(at);
    return bucket;
  }

  /**
   * Adds the spans the functions recorded (they crossed a process boundary: each is checked, an invalid
   * one ignored and logged), kept per order for its waterfall.
   */
  recordSpans(spans: readonly unknown[]): void {
    for (const candidate of spans) {
      const parsed = SpanSchema.safeParse(candidate);
      if (!parsed.success) {
        const [issue] = parsed.error.issues;
        this.ignore(`span: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`);
        continue;
      }
      const list = this.spans.get(parsed.data.orderId) ?? [];
      if (list.length < MAX_SPANS_PER_ORDER) list.push(parsed.data);
      touch(this.spans, parsed.data.orderId, list);
    }
    keepNewest(this.spans, TRACED_ORDERS);
    this.changed();
  }

  private ignore(problem: string): void {
    this.ignored += 1;
    if (this.ignored <= LOG_FIRST_IGNORED || this.ignored % LOG_IGNORED_EVERY === 0)
      this.log(`[dashboard] KPIs record ignored (${this.ignored} so far): ${problem}`);
  }

  /** Consumer lag per function and the dead letters on the dead-letter topic (`null` before it was read). */
  setKafkaState(state: { lag: ConsumerLag[]; deadLettersOnTopic: number | null }): void {
    this.kafka = state;
    this.changed();
  }

  /** Called after every change; returns the unsubscription. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot() {
    const now = this.clock();
    while ((this.arrivals[0]?.at ?? now) < now - RATE_WINDOW_MS) this.arrivals.shift();
    const moved: Partial<Record<StepName, number>> = {};
    for (const { step, orders } of this.arrivals) moved[step] = (moved[step] ?? 0) + orders;
    const total = (name: KpiName) => this.totals.get(name) ?? 0;
    const last = now - (now % HISTORY_BUCKET_MS);
    return {
      at: new Date(now).toISOString(),
      /** Orders each step moved per second, over the last few seconds. */
      ordersPerSecond: Object.fromEntries(
        Object.entries(moved).map(([step, n]) => [step, perSecond(n, RATE_WINDOW_MS)]),
      ) as Partial<Record<StepName, number>>,
      stepLatency: Object.fromEntries(
        [...this.stepLatency].map(([step, v]) => [step, percentilesOf(v)]),
      ) as Partial<Record<StepName, ReturnType<typeof percentilesOf>>>,
      endToEndLatency: percentilesOf(this.endToEnd),
      counts: Object.fromEntries(Object.entries(COUNTED).map(([key, name]) => [key, total(name)])) as Record<
        keyof typeof COUNTED,
        number
      >,
      /** Poison records the steps dead-lettered (their KPIs), and the dead letters on the dead-letter topic. */
      deadLetters: { byKpis: total('RecordsDeadLettered'), onTopic: this.kafka.deadLettersOnTopic },
      consumerLag: this.kafka.lag,
      /** Most recent first, each with its hops in causal order from the spans the functions recorded. */
      lastOrders: [...this.orders].reverse().map(([orderId, steps]) => ({
        orderId,
        steps,
        waterfall: waterfall(this.spans.get(orderId) ?? []),
      })),
      /** The live charts, oldest first, every bucket present (0 when nothing happened), per second. */
      history: Array.from({ length: HISTORY_BUCKETS }, (_, i) => {
        const start = last - (HISTORY_BUCKETS - 1 - i) * HISTORY_BUCKET_MS;
        const bucket = this.buckets.get(start);
        return {
          at: new Date(start).toISOString(),
          received: perSecond(bucket?.received ?? 0, HISTORY_BUCKET_MS),
          shipped: perSecond(bucket?.shipped ?? 0, HISTORY_BUCKET_MS),
          /** Median end-to-end latency of the orders that finished in the bucket; null when none did. */
          endToEndP50: bucket ? percentilesOf(bucket.endToEnd).p50 : null,
        };
      }),
    };
  }

  private changed() {
    for (const listener of this.listeners) listener();
  }
}
