/**
 * `npm run bench`: on one local stack, (1) latency, open loop below capacity, the pipeline beside a bare
 * Kafka chain at the same rate; (2) throughput, closed loop at saturation; the per-order usage, CPU and
 * cost of both; (3) the flash sale (the chaos scenario, once). `--soak N`: N orders at saturation instead,
 * 1,000 at a time. bench/README.md says how each figure is measured. Figures go to stdout and a JSON file;
 * progress goes to stderr.
 */
import { join } from 'node:path';
import { InfraError, stopAllManaged } from '../local/infra/index.ts';
import { type CommandLine, flagsOf, positiveNumber, readCommandLine } from '../tools/command-line.ts';
import { runScenario, type ScenarioResult } from './lib/chaos-run.ts';
import { flashSale } from './lib/chaos-scenarios.ts';
import type { CpuUsage } from './lib/cpu.ts';
import { stockFor } from './lib/orders.ts';
import {
  closedLoopMargins,
  measure,
  openTarget,
  type SegmentResult,
  type Target,
  windowRates,
} from './lib/phase.ts';
import { formatNumber, onStack, resultsDir, table, writeJson } from './lib/report.ts';
import type { BenchStack } from './lib/stack.ts';

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
  --stall-timeout S give up waiting for a phase's orders when none finished for S seconds (default 60)
  --out file        results JSON (default bench/results/latest.json, or soak.json with --soak)`;

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
function benchOptionsOf({ values }: CommandLine<typeof flags, false>) {
  const soak = values.soak === undefined ? undefined : Math.round(positiveNumber('soak', values.soak, 5000));
  const count = (flag: keyof typeof values, fallback: number) =>
    Math.round(positiveNumber(flag, values[flag] as string | undefined, fallback));
  return {
    rate: positiveNumber('rate', values.rate, 10),
    orders: count('orders', 300),
    concurrency: count('concurrency', 64),
    warmup: values.warmup === '0' ? 0 : count('warmup', 20),
    baseline: !values['no-baseline'],
    flashSale: values['no-flash-sale']
      ? undefined
      : {
          orders: count('flash-sale-orders', flashSale.defaults.orders),
          rate: positiveNumber('flash-sale-rate', values['flash-sale-rate'], flashSale.defaults.rate),
        },
    soak,
    out: values.out ?? join(resultsDir, soak === undefined ? 'latest.json' : 'soak.json'),
    stallMs: positiveNumber('stall-timeout', values['stall-timeout'], 60) * 1000,
  };
}
export type BenchOptions = ReturnType<typeof benchOptionsOf>;

/** Opens a target, measures its segments, closes it. */
async function onTarget<T>(
  kind: 'pipeline' | 'baseline',
  stack: BenchStack,
  stock: number,
  segments: (target: Target) => Promise<T>,
) {
  const target = await openTarget(kind, stack, stock);
  try {
    return await segments(target);
  } finally {
    await target.close();
  }
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : Number.NaN);

/** The flash sale on the bench's stack: the chaos scenario, run once, its figures kept. */
async function runFlashSale(stack: BenchStack, options: { orders: number; rate: number; stallMs: number }) {
  log(`[bench] flash sale: ${options.orders} orders at ${options.rate}/s for one SKU`);
  const r: ScenarioResult = await runScenario(flashSale, stack, { ...options, log });
  if (!r.flashSale) throw new Error(`the flash sale did not finish: ${r.failures.join('; ')}`);
  const { acceptedPerSec, attempts, faultProfile, pass, failures } = r;
  return { ...r.flashSale, ...options, acceptedPerSec, attempts, faultProfile, pass, failures };
}

export async function runBench(options: BenchOptions) {
  return onStack('bench', log, async (stack) => {
    const margins = closedLoopMargins(options);
    log(
      `[bench] latency: ${options.orders} orders at ${options.rate}/s (open loop, ${options.warmup} warm-up), pipeline${options.baseline ? ' and baseline' : ''}; ` +
        `throughput: ${options.orders} orders, ${options.concurrency} in flight (closed loop, ${margins.warmup} warm-up, ${margins.cooldown} cool-down); ` +
        `Kafka ${stack.kafkaBrokers.join(',')}, DynamoDB ${stack.dynamodbEndpoint}`,
    );
    const baseline = options.baseline
      ? await onTarget('baseline', stack, 0, (target) => {
          log('[bench] phase 1/2 latency: baseline (4 bare Kafka hops, no batching window)');
          return measure(target, options, 'latency  baseline');
        })
      : undefined;
    const totalOrders = 2 * options.warmup + 2 * options.orders + margins.warmup + margins.cooldown;
    const pipeline = await onTarget('pipeline', stack, stockFor(totalOrders), async (target) => {
      log('[bench] phase 1/2 latency: pipeline');
      const latency = await measure(target, options, 'latency  pipeline');
      log(`[bench] phase 2/2 throughput: pipeline, ${options.concurrency} in flight`);
      const throughput = await measure(target, options, 'throughput pipeline', {
        orders: options.orders,
        firstIndex: 1_000_000,
      });
      return { latency, throughput };
    });
    const sale = options.flashSale
      ? await runFlashSale(stack, { ...options.flashSale, stallMs: options.stallMs })
      : null;
    return benchResultOf(options, pipeline, baseline, sale);
  });
}

/** bench/results/latest.json: the phases' figures, their per-order usage, CPU and cost (bench/README "The JSON"). */
function benchResultOf(
  options: BenchOptions,
  { latency, throughput }: { latency: SegmentResult; throughput: SegmentResult },
  baseline: SegmentResult | undefined,
  flashSale: Awaited<ReturnType<typeof runFlashSale>> | null,
) {
  const { perOrder, ...costFigures } = throughput.cost;
  const ratioOf = (p: 'p50Ms' | 'p90Ms' | 'p99Ms') => ratio(latency.figures[p], baseline?.figures[p] ?? 0);
  return {
    latency: {
      rate: options.rate,
      orders: options.orders,
      warmup: options.warmup,
      pipeline: latency.figures,
      baseline: baseline?.figures ?? null,
      ratio: baseline ? { p50: ratioOf('p50Ms'), p90: ratioOf('p90Ms'), p99: ratioOf('p99Ms') } : null,
      // The latency rate over the throughput phase's sustained orders/s (below 1: below capacity).
      utilisation: ratio(options.rate, throughput.figures.ordersPerSec),
    },
    throughput: {
      concurrency: options.concurrency,
      orders: options.orders,
      ...closedLoopMargins(options),
      pipeline: throughput.figures,
    },
    perOrder: { phase: 'throughput' as const, ...perOrder },
    perOrderLatencyPhase: { phase: 'latency' as const, ...latency.cost.perOrder },
    cpu: {
      pipelineLatencyPhase: latency.cpu,
      pipelineThroughputPhase: throughput.cpu,
      // The bare chain at the same rate: its hops' process (`runtime`) and the broker.
      baselineLatencyPhase: baseline?.cpu ?? null,
    },
    costPerMillionOrdersUsd: throughput.cost.perMillionOrdersUsd.total,
    cost: {
      phase: 'throughput' as const,
      ...costFigures,
      latencyPhasePerMillionOrdersUsd: latency.cost.perMillionOrdersUsd,
    },
    flashSale,
    allFinished:
      latency.counted.allFinished &&
      throughput.counted.allFinished &&
      (baseline?.counted.allFinished ?? true),
    logs: { pipeline: latency.logFile, baseline: baseline?.logFile ?? null },
  };
}
export type BenchResult = Awaited<ReturnType<typeof runBench>>;

export async function runSoak(options: BenchOptions, orders: number) {
  return onStack('bench', log, async (stack) => {
    const margins = closedLoopMargins(options);
    const windowOrders = orders >= 2000 ? 1000 : Math.max(1, Math.floor(orders / 2));
    log(
      `[soak] ${orders} orders, ${options.concurrency} in flight (${margins.warmup} warm-up, ${margins.cooldown} cool-down), windows of ${windowOrders}`,
    );
    const stock = stockFor(orders + margins.warmup + margins.cooldown);
    const soak = await onTarget('pipeline', stack, stock, (target) =>
      measure(target, options, 'soak     pipeline', { orders, firstIndex: 0 }),
    );
    const times = soak.completionTimes.slice(0, margins.warmup + orders);
    const windows = windowRates(times, margins.warmup, windowOrders, soak.windowStart);
    const first = windows[0]?.ordersPerSec ?? 0;
    const last = windows.at(-1)?.ordersPerSec ?? 0;
    return {
      orders,
      concurrency: options.concurrency,
      ...margins,
      windowOrders,
      firstOrdersPerSec: first,
      lastOrdersPerSec: last,
      lastOverFirst: ratio(last, first),
      windows,
      // ordersPerSec over all the measured orders, and the latencies at saturation.
      ...soak.figures,
      allFinished: soak.counted.allFinished,
      perOrder: { phase: 'throughput' as const, ...soak.cost.perOrder },
      cpu: soak.cpu,
      log: soak.logFile,
    };
  });
}
export type SoakResult = Awaited<ReturnType<typeof runSoak>>;

/** A title, then a table if there are rows. */
const section = (title: string, rows?: (string | number)[][]) =>
  console.log(rows ? `\n${title}\n\n${table(rows)}` : `\n${title}`);

const machineLine = ({ machine: m, commit }: Pick<BenchResult, 'machine' | 'commit'>) =>
  `${m.cpuModel}, ${m.cores} cores, Node ${m.node}, Kafka ${m.kafkaVersion}, load average ${m.loadAverage.start.join(' ')} -> ${m.loadAverage.end?.join(' ') ?? '?'}, commit ${commit.commit}${commit.dirty ? ' (work tree with changes)' : ''}`;

/** One row per [label, key]: the figure of the throughput phase beside the latency phase's. */
const phasesTable = <K extends string>(
  first: string,
  throughput: Record<K, unknown>,
  latency: Record<K, unknown>,
  rows: [string, K][],
) => [
  [first, 'throughput phase', 'latency phase'],
  ...rows.map(([label, key]) => [label, Number(throughput[key]), Number(latency[key])]),
];

export function printBench(result: BenchResult): void {
  const l = result.latency;
  const row = (name: string, f: SegmentResult['figures']) => {
    const { p50Ms, p90Ms, p99Ms, maxMs, ordersPerSec, completed, sent } = f;
    return [name, p50Ms, p90Ms, p99Ms, maxMs, ordersPerSec, `${completed}/${sent}`];
  };
  section(
    `Latency, open loop at ${l.rate} orders/s (POST accepted -> order-shipped notification delivered)`,
    [
      ['', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'orders/s', 'finished'],
      row('pipeline', l.pipeline),
      ...(l.baseline ? [row('baseline (4 bare Kafka hops, no window)', l.baseline)] : []),
      ...(l.ratio ? [['ratio pipeline/baseline', l.ratio.p50, l.ratio.p90, l.ratio.p99, '', '', '']] : []),
    ],
  );
  const t = result.throughput.pipeline;
  section(
    `Throughput, closed loop with ${result.throughput.concurrency} in flight: ${formatNumber(t.ordersPerSec)} orders/s sustained over ${formatNumber(t.windowS)} s ` +
      `(${t.completed}/${t.sent} measured orders finished; latency at saturation p50 ${formatNumber(t.p50Ms)} ms, p99 ${formatNumber(t.p99Ms)} ms: queueing). ` +
      `The latency rate is ${formatNumber(l.utilisation * 100)}% of it.`,
  );
  section(machineLine(result));
  section(
    'Per order',
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
  printCost(result.cost);
}

function printCost(c: BenchResult['cost']): void {
  section(
    `Cost per million orders (${c.prices.currency}, ${c.prices.region} on-demand prices as of ${c.prices.asOf}, Lambda ${c.deployment.architecture})`,
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
  const { fixedPerMonthUsd: f, deployment: d } = c;
  section(
    `Per month whatever the traffic: MSK ${d.brokers} x ${d.brokerInstanceType} ${formatNumber(f.mskBrokerHours)} USD, their ${d.brokers} x ${d.brokerVolumeGiB} GiB storage ${formatNumber(f.mskBrokerStorage)} USD, ` +
      `${f.epus.atMinimum} event poller unit(s) for ${d.kafkaMappings} mappings at ${d.minimumPollersPerMapping} poller(s) each ${formatNumber(f.eventPollerUnits)} USD ` +
      `(${f.epus.atMaximum} EPUs, ${formatNumber(f.epus.atMaximumUsd)} USD, if every mapping scaled out to its maximum): ${formatNumber(f.total)} USD. ` +
      `The provisioned broker storage holds about ${formatNumber(c.kafkaStorage.maxSustainedOrdersPerSec)} orders/s at the manifest's retention.`,
  );
}

function printFlashSale(f: NonNullable<BenchResult['flashSale']>): void {
  const pair = (a: number, b: number) => `${a} / ${b}`;
  section(
    `Flash sale: ${f.orders} orders at ${f.rate}/s (${f.acceptedPerSec}/s accepted) for one SKU with ${f.stock} in stock, fault profile '${f.faultProfile}'`,
    [
      ['what', 'value'],
      ['reserved / rejected', pair(f.reserved, f.rejected)],
      [
        'reservations/s while stock lasted',
        `${formatNumber(f.reservationsPerSec)} (over ${formatNumber(f.reservingS)} s)`,
      ],
      ['inventory transactions per reservation', f.transactionsPerReservation],
      ['inventory transactions per decision (reserved or rejected)', f.transactionsPerDecision],
      [
        '202 -> order-shipped, orders that got a unit: p50 / p99 ms',
        pair(f.reservedLatency.p50Ms, f.reservedLatency.p99Ms),
      ],
      ['202 -> order-rejected: p50 / p99 ms', pair(f.rejectedLatency.p50Ms, f.rejectedLatency.p99Ms)],
      ['faults injected', JSON.stringify(f.attempts?.injectedByKind ?? {})],
      ['verdict', f.pass ? 'PASS' : `FAIL: ${f.failures.join('; ')}`],
    ],
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
  const cell = ({ perOrderMs, cores }: CpuUsage, name: string) =>
    perOrderMs[name] === undefined
      ? '-'
      : `${formatNumber(perOrderMs[name])} (${formatNumber(cores[name] ?? 0)} cores)`;
  section('CPU ms per order (utime + stime from /proc; in parentheses: cores kept busy)', [
    ['process', ...shown.map(([label]) => label)],
    ...processNames.map(([name, label]) => [label, ...shown.map(([, usage]) => cell(usage, name))]),
    ['total', ...shown.map(([, usage]) => usage.totalPerOrderMs)],
    ['bench driver (not in the total)', ...shown.map(([, usage]) => usage.driverPerOrderMs)],
  ]);
}

export function printSoak(result: SoakResult): void {
  section(`Soak: ${result.orders} orders, ${result.concurrency} in flight`, [
    ['orders', 'seconds', 'orders/s'],
    ...result.windows.map((w) => [`${w.fromOrder}-${w.toOrder}`, w.seconds, w.ordersPerSec]),
  ]);
  const cpu = Object.entries(result.cpu.perOrderMs).map(([name, ms]) => `${name} ${formatNumber(ms)}`);
  section(
    `first ${result.windowOrders}: ${formatNumber(result.firstOrdersPerSec)} orders/s, last ${result.windowOrders}: ${formatNumber(result.lastOrdersPerSec)} orders/s (${formatNumber(result.lastOverFirst * 100)}%); ` +
      `${result.completed}/${result.orders} finished; latency p50 ${formatNumber(result.p50Ms)} ms, p99 ${formatNumber(result.p99Ms)} ms; ` +
      `CPU ms per order ${cpu.join(', ')} (total ${formatNumber(result.cpu.totalPerOrderMs)})`,
  );
  section(machineLine(result));
}

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options: flags }, benchOptionsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const options = command.settings;
  try {
    const result =
      options.soak === undefined ? await runBench(options) : await runSoak(options, options.soak);
    if ('windows' in result) printSoak(result);
    else printBench(result);
    console.log(`\nwritten: ${await writeJson(options.out, result)}`);
    const ok = result.allFinished && ('flashSale' in result ? (result.flashSale?.pass ?? true) : true);
    if (!ok)
      log(
        '[bench] some orders did not finish (the figures cover the finished ones only), or the flash sale failed its verdict',
      );
    return ok ? 0 : 1;
  } catch (error) {
    log(error instanceof InfraError ? error.message : `[bench] failed: ${(error as Error).stack ?? error}`);
    await stopAllManaged();
    return 1;
  }
}

if (import.meta.main) process.exit(await main());
