/**
 * `npm run bench`: the pipeline on the local stack, in one run on one broker:
 *   1. latency: open loop at a fixed rate below capacity, the pipeline and the baseline (four bare Kafka
 *      consume→produce hops, no batching window) at the same rate: p50/p90/p99 and their ratio;
 *   2. throughput: closed loop at saturation, the sustained orders/s (warm-up and cool-down excluded);
 *   then the per-order usage (counted in the throughput phase; the latency phase's beside it) and the
 *   cost per million orders for what the CDK stack deploys.
 *   3. flash sale: 2,000 orders at 100/s for one SKU with 500 in stock, with the conflicts and throttling
 *      local/faults/contention-model.ts predicts: the SKU's reservations/s, attempts per reservation and the
 *      latency of the orders that got a unit (the chaos scenario flash-sale, with its verdict).
 * `npm run bench -- --soak N`: N orders at saturation instead, the throughput of the first and the last
 * 1,000 (bench/results/soak.json).
 *
 * Kafka and DynamoDB are started on free ports (or taken from KAFKA_BROKERS / DYNAMODB_ENDPOINT).
 * Figures go to stdout and to a JSON file; progress goes to stderr.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { InfraError, stopAllManaged } from '../local/infra/index.ts';
import { projectRoot } from '../local/python/venv.ts';
import { type CommandLine, flagsOf, positiveNumber, readCommandLine } from '../tools/command-line.ts';
import { flashSale } from './lib/chaos-aws.ts';
import { runScenario } from './lib/chaos-run.ts';
import { type CostReport, costReport, type UsagePerOrder } from './lib/cost.ts';
import type { CpuUsage } from './lib/cpu.ts';
import { stockFor } from './lib/orders.ts';
import { measure, openTarget, type SegmentResult, windowRates } from './lib/phase.ts';
import {
  commandLine,
  currentLoad,
  formatNumber,
  type MachineInfo,
  machineInfo,
  resultsDir,
  table,
  writeJson,
} from './lib/report.ts';
import { type BenchStack, startBenchStack } from './lib/stack.ts';

const usage = `usage: npm run bench -- [--rate R] [--orders N] [--concurrency C] [--warmup W] [--no-baseline] [--out file]
       npm run bench -- --soak N [--concurrency C] [--out file]
  --rate R          latency phase: open loop at R orders/s, pipeline and baseline (default 10)
  --orders N        orders measured in each phase (default 300)
  --concurrency C   throughput phase: closed loop with C orders in flight end to end (default 64)
  --warmup W        orders before measuring; the closed loop also skips its first C completions (default 20)
  --no-baseline     skip the baseline
  --flash-sale-orders N  flash sale: N orders for one SKU with N/4 in stock (default 2000)
  --flash-sale-rate R    flash sale: sent at R orders/s (default 100)
  --no-flash-sale   skip the flash sale
  --soak N          only a soak: N orders at saturation, throughput of the first and last 1,000
  --out file        results JSON (default bench/results/latest.json, or soak.json with --soak)`;

export interface BenchOptions {
  rate: number;
  orders: number;
  concurrency: number;
  warmup: number;
  baseline: boolean;
  /** The flash sale's orders and rate; undefined: skipped. */
  flashSale: { orders: number; rate: number } | undefined;
  soak: number | undefined;
  out: string;
  stallMs: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

const flags = flagsOf({
  string: [
    'orders',
    'rate',
    'concurrency',
    'warmup',
    'flash-sale-orders',
    'flash-sale-rate',
    'soak',
    'out',
    'stall-timeout',
  ],
  boolean: ['no-baseline', 'no-flash-sale'],
});

/** The run's settings from its flags; a UsageError for a bad value. */
function benchOptionsOf({ values }: CommandLine<typeof flags, false>): BenchOptions {
  const soak = values.soak === undefined ? undefined : Math.round(positiveNumber('soak', values.soak, 5000));
  return {
    rate: positiveNumber('rate', values.rate, 10),
    orders: Math.round(positiveNumber('orders', values.orders, 300)),
    concurrency: Math.round(positiveNumber('concurrency', values.concurrency, 64)),
    warmup: values.warmup === '0' ? 0 : Math.round(positiveNumber('warmup', values.warmup, 20)),
    baseline: !values['no-baseline'],
    flashSale: values['no-flash-sale']
      ? undefined
      : {
          orders: Math.round(
            positiveNumber('flash-sale-orders', values['flash-sale-orders'], flashSale.defaults.orders),
          ),
          rate: positiveNumber('flash-sale-rate', values['flash-sale-rate'], flashSale.defaults.rate),
        },
    soak,
    out: values.out ?? join(resultsDir, soak === undefined ? 'latest.json' : 'soak.json'),
    stallMs: positiveNumber('stall-timeout', values['stall-timeout'], 60) * 1000,
  };
}

/** The commit the figures come from (and whether the work tree had changes). */
function gitCommit(): { commit: string; dirty: boolean } {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return {
      commit: git('rev-parse', '--short', 'HEAD').trim(),
      dirty: git('status', '--porcelain').trim() !== '',
    };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

const latencyOf = (s: SegmentResult) => ({
  p50Ms: s.p50Ms,
  p90Ms: s.p90Ms,
  p99Ms: s.p99Ms,
  maxMs: s.maxMs,
  meanMs: s.meanMs,
  /** Finished measured orders / (last finish - first send). */
  achievedOrdersPerSec: s.ordersPerSec,
  sent: s.sent,
  accepted: s.accepted,
  completed: s.completed,
  missing: s.missing,
  failed: s.failed,
  repeatedCompletions: s.repeated,
});

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : Number.NaN);

/** The per-order figures the issue names, and everything else the counters know. */
function perOrderOf(phase: 'throughput' | 'latency', cost: CostReport) {
  const u: UsagePerOrder = cost.usagePerOrder;
  return {
    phase,
    orders: cost.orders,
    dynamodbCalls: u.dynamodbCalls,
    wru: u.dynamodbWriteUnits,
    rru: u.dynamodbReadUnits,
    kafkaRecords: u.kafkaRecordsProduced,
    kafkaBytes: u.kafkaBytesProduced,
    kafkaBytesConsumed: u.kafkaBytesConsumed,
    lambdaInvocations: u.lambdaInvocations,
    lambdaGbSeconds: u.lambdaGbSeconds,
    lambdaColdStarts: u.lambdaColdStarts,
    lambdaInitGbSeconds: u.lambdaInitGbSeconds,
    apiRequests: u.apiRequests,
    snsPublishes: u.snsPublishes,
    logBytes: u.logBytes,
    byFunction: cost.functions,
    byTable: cost.dynamodbPerTable,
    byTopic: cost.kafkaPerTopic,
  };
}

/** The flash sale on the bench's stack: the chaos scenario, run once, its figures kept. */
async function runFlashSale(stack: BenchStack, options: { orders: number; rate: number; stallMs: number }) {
  log(`[bench] flash sale: ${options.orders} orders at ${options.rate}/s for one SKU`);
  const r = await runScenario(flashSale, stack, { ...options, log });
  if (!r.flashSale) throw new Error(`the flash sale did not finish: ${r.failures.join('; ')}`);
  return {
    ...r.flashSale,
    orders: options.orders,
    rate: options.rate,
    acceptedPerSec: r.acceptedPerSec,
    attempts: r.attempts,
    faultProfile: r.faultProfile,
    pass: r.pass,
    failures: r.failures,
  };
}
export type FlashSaleResult = Awaited<ReturnType<typeof runFlashSale>>;

/** Per closed loop: the completions skipped before the window opens, and the orders sent after it. */
const closedLoopMargins = (options: BenchOptions) => ({
  warmup: Math.max(options.warmup, options.concurrency),
  cooldown: options.concurrency,
});

/** The baseline's latency phase, on fresh topics of the stack's broker. */
async function measureBaseline(stack: BenchStack, options: BenchOptions) {
  log('[bench] phase 1/2 latency: baseline (4 bare Kafka hops, no batching window)');
  const target = await openTarget('baseline', stack, 0);
  try {
    const segment = await measure(target, {
      stallMs: options.stallMs,
      log,
      label: 'latency  baseline',
      orders: options.orders,
      load: { kind: 'rate', perSecond: options.rate },
      warmup: options.warmup,
      firstIndex: 0,
    });
    return { segment, logFile: target.logFile };
  } finally {
    await target.close();
  }
}

/** The pipeline's latency phase, then its throughput phase on the same warm runtime. */
async function measurePipeline(stack: BenchStack, options: BenchOptions) {
  const margins = closedLoopMargins(options);
  log('[bench] phase 1/2 latency: pipeline');
  const totalOrders = 2 * options.warmup + 2 * options.orders + margins.warmup + margins.cooldown;
  const target = await openTarget('pipeline', stack, stockFor(totalOrders));
  const common = { stallMs: options.stallMs, log, orders: options.orders };
  try {
    const latency = await measure(target, {
      ...common,
      label: 'latency  pipeline',
      load: { kind: 'rate', perSecond: options.rate },
      warmup: options.warmup,
      firstIndex: 0,
    });
    log(`[bench] phase 2/2 throughput: pipeline, ${options.concurrency} in flight`);
    const throughput = await measure(target, {
      ...common,
      label: 'throughput pipeline',
      load: { kind: 'concurrency', inFlight: options.concurrency },
      ...margins,
      firstIndex: 1_000_000,
    });
    return { latency, throughput, tablePrefix: target.tablePrefix, logFile: target.logFile };
  } finally {
    await target.close();
  }
}

export async function runBench(options: BenchOptions, command: string) {
  const startedAt = new Date().toISOString();
  const stack = await startBenchStack(log);
  const machine = machineInfo(stack.kafkaVersion);
  try {
    const margins = closedLoopMargins(options);
    log(
      `[bench] latency: ${options.orders} orders at ${options.rate}/s (open loop, ${options.warmup} warm-up), pipeline${options.baseline ? ' and baseline' : ''}; ` +
        `throughput: ${options.orders} orders, ${options.concurrency} in flight (closed loop, ${margins.warmup} warm-up, ${margins.cooldown} cool-down); ` +
        `Kafka ${stack.kafkaBrokers.join(',')}, DynamoDB ${stack.dynamodbEndpoint}`,
    );
    const baseline = options.baseline ? await measureBaseline(stack, options) : undefined;
    const pipeline = await measurePipeline(stack, options);
    const sale = options.flashSale
      ? await runFlashSale(stack, { ...options.flashSale, stallMs: options.stallMs })
      : null;
    machine.loadAverage.end = currentLoad();
    return benchResultOf({ options, command, startedAt, machine, baseline, pipeline, sale });
  } finally {
    await stack.stop();
  }
}

/** `bench/results/latest.json`: the figures of the phases, their per-order usage and cost (bench/README "The JSON"). */
function benchResultOf(r: {
  options: BenchOptions;
  command: string;
  startedAt: string;
  machine: MachineInfo;
  baseline: Awaited<ReturnType<typeof measureBaseline>> | undefined;
  pipeline: Awaited<ReturnType<typeof measurePipeline>>;
  sale: FlashSaleResult | null;
}) {
  const { options } = r;
  const { latency, throughput } = r.pipeline;
  const baseline = r.baseline?.segment;
  const costOf = (s: SegmentResult) =>
    costReport({
      stats: s.stats,
      orders: s.counted.orders,
      logBytes: s.logBytes,
      tablePrefix: r.pipeline.tablePrefix,
    });
  const cost = costOf(throughput);
  const latencyCost = costOf(latency);
  return {
    command: r.command,
    startedAt: r.startedAt,
    commit: gitCommit(),
    machine: r.machine,
    latency: {
      rate: options.rate,
      orders: options.orders,
      warmup: options.warmup,
      pipeline: latencyOf(latency),
      baseline: baseline ? latencyOf(baseline) : null,
      ratio: baseline
        ? {
            p50: ratio(latency.p50Ms, baseline.p50Ms),
            p90: ratio(latency.p90Ms, baseline.p90Ms),
            p99: ratio(latency.p99Ms, baseline.p99Ms),
          }
        : null,
      /** The latency rate over the throughput phase's sustained orders/s (below 1: below capacity). */
      utilisation: ratio(options.rate, throughput.ordersPerSec),
    },
    throughput: {
      concurrency: options.concurrency,
      orders: options.orders,
      ...closedLoopMargins(options),
      pipeline: {
        ordersPerSec: throughput.ordersPerSec,
        windowS: throughput.windowS,
        p50Ms: throughput.p50Ms,
        p90Ms: throughput.p90Ms,
        p99Ms: throughput.p99Ms,
        sent: throughput.sent,
        completed: throughput.completed,
        missing: throughput.missing,
        failed: throughput.failed,
      },
    },
    perOrder: perOrderOf('throughput', cost),
    perOrderLatencyPhase: perOrderOf('latency', latencyCost),
    /** CPU ms per order of each process of the stack (`/proc/<pid>/stat`), over the same orders as the counters. */
    cpu: {
      pipelineLatencyPhase: latency.cpu,
      pipelineThroughputPhase: throughput.cpu,
      /** The bare chain in the latency phase, at the same rate: its hops' process (`runtime`) and the broker. */
      baselineLatencyPhase: baseline?.cpu ?? null,
    },
    costPerMillionOrdersUsd: cost.perMillionOrdersUsd.total,
    cost: {
      phase: 'throughput' as const,
      perMillionOrdersUsd: cost.perMillionOrdersUsd,
      latencyPhasePerMillionOrdersUsd: latencyCost.perMillionOrdersUsd,
      fixedPerMonthUsd: cost.fixedPerMonthUsd,
      kafkaStorage: cost.kafkaStorage,
      deployment: cost.deployment,
      prices: cost.prices,
      method: cost.method,
    },
    /** The flash sale (null: skipped): its figures, attempts and the chaos verdict's failures. */
    flashSale: r.sale,
    /** Every order of every phase was accepted and finished. */
    allFinished:
      latency.counted.allFinished &&
      throughput.counted.allFinished &&
      (baseline?.counted.allFinished ?? true),
    logs: { pipeline: r.pipeline.logFile, baseline: r.baseline?.logFile ?? null },
    notes: [
      'Latency: from the 202 answer of POST /orders to the end of the notification invocation that delivered the order-shipped notification; baseline: from the acknowledged produce on its first topic to the acknowledged produce of its fourth hop. Open loop: order i is sent at i/rate s whatever the system does, so queueing shows in the figures.',
      'Baseline: four bare consume->produce hops with no batching window (records are forwarded as soon as they arrive; those that arrive during a send go in the next one), the functions producer settings, the same client library and broker.',
      "Throughput: closed loop (C orders in flight end to end, the next sent when one finishes). By Little's law its latency is C / throughput: it measures capacity, not latency. orders/s is taken between the warm-up-th and the (warm-up + orders)-th completion while the loop is still full.",
      'perOrder: counted over every order of the throughput phase (its warm-up and cool-down included, all at saturation); perOrderLatencyPhase: over the measured orders of the latency phase. costPerMillionOrdersUsd prices perOrder.',
      'cpu: utime + stime of each process (all its threads, the environments worker threads included, and its descendants) from /proc/<pid>/stat, read when the counters are read, divided by the same orders; runtime is the child running the functions (the hops for the baseline); driver is the bench process sending the orders, not in the total.',
      'fixedPerMonthUsd (broker hours, broker storage, event poller units) does not scale with orders and is not in costPerMillionOrdersUsd.',
    ],
  };
}
export type BenchResult = ReturnType<typeof benchResultOf>;

export async function runSoak(options: BenchOptions, orders: number, command: string) {
  const startedAt = new Date().toISOString();
  const stack: BenchStack = await startBenchStack(log);
  const machine = machineInfo(stack.kafkaVersion);
  try {
    const margins = closedLoopMargins(options);
    const windowOrders = orders >= 2000 ? 1000 : Math.max(1, Math.floor(orders / 2));
    log(
      `[soak] ${orders} orders, ${options.concurrency} in flight (${margins.warmup} warm-up, ${margins.cooldown} cool-down), windows of ${windowOrders}`,
    );
    const target = await openTarget('pipeline', stack, stockFor(orders + margins.warmup + margins.cooldown));
    let soak: SegmentResult;
    try {
      soak = await measure(target, {
        stallMs: options.stallMs,
        log,
        label: 'soak     pipeline',
        orders,
        load: { kind: 'concurrency', inFlight: options.concurrency },
        ...margins,
        firstIndex: 0,
      });
    } finally {
      await target.close();
    }
    machine.loadAverage.end = currentLoad();
    const windows = windowRates(
      soak.completionTimes.slice(0, margins.warmup + orders),
      margins.warmup,
      windowOrders,
      soak.windowStart,
    );
    const first = windows[0]?.ordersPerSec ?? 0;
    const last = windows.at(-1)?.ordersPerSec ?? 0;
    const cost = costReport({
      stats: soak.stats,
      orders: soak.counted.orders,
      logBytes: soak.logBytes,
      tablePrefix: target.tablePrefix,
    });
    return {
      command,
      startedAt,
      commit: gitCommit(),
      machine,
      orders,
      concurrency: options.concurrency,
      ...margins,
      windowOrders,
      firstOrdersPerSec: first,
      lastOrdersPerSec: last,
      /** lastOrdersPerSec / firstOrdersPerSec. */
      lastOverFirst: ratio(last, first),
      /** Over all the measured orders. */
      ordersPerSec: soak.ordersPerSec,
      windows,
      latency: { p50Ms: soak.p50Ms, p90Ms: soak.p90Ms, p99Ms: soak.p99Ms, maxMs: soak.maxMs },
      completed: soak.completed,
      missing: soak.missing,
      failed: soak.failed,
      allFinished: soak.counted.allFinished,
      perOrder: perOrderOf('throughput', cost),
      cpu: soak.cpu,
      log: target.logFile,
    };
  } finally {
    await stack.stop();
  }
}

const machineLine = (m: MachineInfo, commit: { commit: string; dirty: boolean }) =>
  `${m.cpuModel}, ${m.cores} cores, Node ${m.node}, Kafka ${m.kafkaVersion}, load average ${m.loadAverage.start.join(' ')} -> ${m.loadAverage.end?.join(' ') ?? '?'}, commit ${commit.commit}${commit.dirty ? ' (work tree with changes)' : ''}`;

export type SoakResult = Awaited<ReturnType<typeof runSoak>>;

/** One row per [label, key]: the figure of the throughput phase beside the latency phase's. */
function phasesTable<T extends object>(
  first: string,
  throughput: T,
  latency: T,
  rows: [string, { [K in keyof T]: T[K] extends number ? K : never }[keyof T]][],
): string {
  const cell = (figures: T, key: keyof T) => figures[key] as number;
  return table([
    [first, 'throughput phase', 'latency phase'],
    ...rows.map(([label, key]) => [label, cell(throughput, key), cell(latency, key)]),
  ]);
}

export function printBench(result: BenchResult): void {
  const l = result.latency;
  const row = (name: string, f: ReturnType<typeof latencyOf>) => [
    name,
    f.p50Ms,
    f.p90Ms,
    f.p99Ms,
    f.maxMs,
    f.achievedOrdersPerSec,
    `${f.completed}/${f.sent}`,
  ];
  const rows: (string | number)[][] = [
    ['', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'orders/s', 'finished'],
    row('pipeline', l.pipeline),
  ];
  if (l.baseline) rows.push(row('baseline (4 bare Kafka hops, no window)', l.baseline));
  if (l.ratio) rows.push(['ratio pipeline/baseline', l.ratio.p50, l.ratio.p90, l.ratio.p99, '', '', '']);
  console.log(
    `\nLatency, open loop at ${l.rate} orders/s (POST accepted -> order-shipped notification delivered)\n`,
  );
  console.log(table(rows));

  const t = result.throughput;
  console.log(
    `\nThroughput, closed loop with ${t.concurrency} in flight: ${formatNumber(t.pipeline.ordersPerSec)} orders/s sustained over ${formatNumber(t.pipeline.windowS)} s ` +
      `(${t.pipeline.completed}/${t.pipeline.sent} measured orders finished; latency at saturation p50 ${formatNumber(t.pipeline.p50Ms)} ms, p99 ${formatNumber(t.pipeline.p99Ms)} ms: queueing). ` +
      `The latency rate is ${formatNumber(l.utilisation * 100)}% of it.`,
  );
  console.log(`\n${machineLine(result.machine, result.commit)}`);

  console.log(`\nPer order\n`);
  console.log(
    phasesTable('what', result.perOrder, result.perOrderLatencyPhase, [
      ['DynamoDB calls', 'dynamodbCalls'],
      ['DynamoDB write request units', 'wru'],
      ['DynamoDB read request units', 'rru'],
      ['Kafka records produced', 'kafkaRecords'],
      ['Kafka bytes produced', 'kafkaBytes'],
      ['Kafka bytes consumed', 'kafkaBytesConsumed'],
      ['Lambda invocations', 'lambdaInvocations'],
      ['Lambda GB-s (billed, init included)', 'lambdaGbSeconds'],
      ['  of which init (cold starts)', 'lambdaInitGbSeconds'],
      ['Lambda cold starts', 'lambdaColdStarts'],
      ['API Gateway requests', 'apiRequests'],
      ['SNS publishes', 'snsPublishes'],
      ['log bytes', 'logBytes'],
    ]),
  );

  printCpu(result.cpu);
  if (result.flashSale) printFlashSale(result.flashSale);

  const c = result.cost;
  console.log(
    `\nCost per million orders (${c.prices.currency}, ${c.prices.region} on-demand prices as of ${c.prices.asOf}, Lambda ${c.deployment.architecture})\n`,
  );
  console.log(
    phasesTable('item', c.perMillionOrdersUsd, c.latencyPhasePerMillionOrdersUsd, [
      ['Lambda requests', 'lambdaRequests'],
      ['Lambda duration', 'lambdaDuration'],
      ['API Gateway (REST)', 'apiGateway'],
      ['DynamoDB writes (on-demand)', 'dynamodbWrites'],
      ['DynamoDB reads (on-demand)', 'dynamodbReads'],
      ['Kafka bytes across AZs', 'kafkaCrossAzTransfer'],
      ['SNS publishes', 'snsPublishes'],
      ['CloudWatch Logs ingestion', 'cloudWatchLogs'],
      ['total', 'total'],
    ]),
  );
  const f = c.fixedPerMonthUsd;
  const d = c.deployment;
  console.log(
    `\nPer month whatever the traffic: MSK ${d.brokers} x ${d.brokerInstanceType} ${formatNumber(f.mskBrokerHours)} USD, their ${d.brokers} x ${d.brokerVolumeGiB} GiB storage ${formatNumber(f.mskBrokerStorage)} USD, ` +
      `${f.epus.atMinimum} event poller unit(s) for ${d.kafkaMappings} mappings at ${d.minimumPollersPerMapping} poller(s) each ${formatNumber(f.eventPollerUnits)} USD ` +
      `(${f.epus.atMaximum} EPUs, ${formatNumber(f.epus.atMaximumUsd)} USD, if every mapping scaled out to its maximum): ${formatNumber(f.total)} USD. ` +
      `The provisioned broker storage holds about ${formatNumber(c.kafkaStorage.maxSustainedOrdersPerSec)} orders/s at the manifest's retention.`,
  );
}

function printFlashSale(f: FlashSaleResult): void {
  console.log(
    `\nFlash sale: ${f.orders} orders at ${f.rate}/s (${f.acceptedPerSec}/s accepted) for one SKU with ${f.stock} in stock, fault profile '${f.faultProfile}'\n`,
  );
  console.log(
    table([
      ['what', 'value'],
      ['reserved / rejected', `${f.reserved} / ${f.rejected}`],
      [
        'reservations/s while stock lasted',
        `${formatNumber(f.reservationsPerSec)} (over ${formatNumber(f.reservingS)} s)`,
      ],
      ['inventory transactions per reservation', f.transactionsPerReservation],
      ['inventory transactions per decision (reserved or rejected)', f.transactionsPerDecision],
      [
        '202 -> order-shipped, orders that got a unit: p50 / p99 ms',
        `${f.reservedLatency.p50Ms} / ${f.reservedLatency.p99Ms}`,
      ],
      ['202 -> order-rejected: p50 / p99 ms', `${f.rejectedLatency.p50Ms} / ${f.rejectedLatency.p99Ms}`],
      ['faults injected', JSON.stringify(f.attempts?.injectedByKind ?? {})],
      ['verdict', f.pass ? 'PASS' : `FAIL: ${f.failures.join('; ')}`],
    ]),
  );
}

const processNames: [string, string][] = [
  ['runtime', 'runtime (Node.js: functions / hops)'],
  ['kafka', 'Kafka broker (JVM)'],
  ['dynamodb', 'dynoxide (DynamoDB)'],
  ['sns', "moto's SNS"],
];

function printCpu(cpu: BenchResult['cpu']): void {
  const phases: [string, CpuUsage | null][] = [
    ['pipeline, latency phase', cpu.pipelineLatencyPhase],
    ['baseline, latency phase', cpu.baselineLatencyPhase],
    ['pipeline, throughput phase', cpu.pipelineThroughputPhase],
  ];
  const shown = phases.filter((phase): phase is [string, CpuUsage] => phase[1] !== null);
  const cell = (usage: CpuUsage, name: string) =>
    usage.perOrderMs[name] === undefined
      ? '-'
      : `${formatNumber(usage.perOrderMs[name])} (${formatNumber(usage.cores[name] ?? 0)} cores)`;
  console.log(`\nCPU ms per order (utime + stime from /proc; in parentheses: cores kept busy)\n`);
  console.log(
    table([
      ['process', ...shown.map(([label]) => label)],
      ...processNames.map(([name, label]) => [label, ...shown.map(([, usage]) => cell(usage, name))]),
      ['total', ...shown.map(([, usage]) => formatNumber(usage.totalPerOrderMs))],
      ['bench driver (not in the total)', ...shown.map(([, usage]) => formatNumber(usage.driverPerOrderMs))],
    ]),
  );
}

export function printSoak(result: SoakResult): void {
  console.log(`\nSoak: ${result.orders} orders, ${result.concurrency} in flight\n`);
  console.log(
    table([
      ['orders', 'seconds', 'orders/s'],
      ...result.windows.map((w) => [`${w.fromOrder}-${w.toOrder}`, w.seconds, w.ordersPerSec]),
    ]),
  );
  console.log(
    `\nfirst ${result.windowOrders}: ${formatNumber(result.firstOrdersPerSec)} orders/s, last ${result.windowOrders}: ${formatNumber(result.lastOrdersPerSec)} orders/s (${formatNumber(result.lastOverFirst * 100)}%); ` +
      `${result.completed}/${result.orders} finished; latency p50 ${formatNumber(result.latency.p50Ms)} ms, p99 ${formatNumber(result.latency.p99Ms)} ms; ` +
      `CPU ms per order ${Object.entries(result.cpu.perOrderMs)
        .map(([name, ms]) => `${name} ${formatNumber(ms)}`)
        .join(', ')} (total ${formatNumber(result.cpu.totalPerOrderMs)})`,
  );
  console.log(`\n${machineLine(result.machine, result.commit)}`);
}

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options: flags }, benchOptionsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const options = command.settings;
  try {
    let allFinished: boolean;
    if (options.soak !== undefined) {
      const result = await runSoak(options, options.soak, commandLine('bench'));
      printSoak(result);
      console.log(`\nwritten: ${await writeJson(options.out, result)}`);
      allFinished = result.allFinished;
    } else {
      const result = await runBench(options, commandLine('bench'));
      printBench(result);
      console.log(`\nwritten: ${await writeJson(options.out, result)}`);
      allFinished = result.allFinished && (result.flashSale?.pass ?? true);
    }
    if (!allFinished)
      log(
        '[bench] some orders did not finish (the figures cover the finished ones only), or the flash sale failed its verdict',
      );
    return allFinished ? 0 : 1;
  } catch (error) {
    log(error instanceof InfraError ? error.message : `[bench] failed: ${(error as Error).stack ?? error}`);
    await stopAllManaged();
    return 1;
  }
}

if (import.meta.main) process.exit(await main());
