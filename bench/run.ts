/**
 * `npm run bench`: end-to-end latency and throughput of the pipeline on the local stack, beside a
 * baseline of plain Kafka hops measured in the same run, and the cost per million orders.
 *
 *   npm run bench -- [--orders N] [--concurrency C | --rate R] [--warmup W] [--no-baseline] [--out file]
 *
 * Kafka and DynamoDB are started on free ports (or taken from KAFKA_BROKERS / DYNAMODB_ENDPOINT).
 * Figures go to stdout (table) and to bench/results/latest.json; progress goes to stderr.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { architecture } from '../infra/lib/bundling.ts';
import { InfraError, stopAllManaged } from '../local/infra/index.ts';
import { type Architecture, type CostReport, costReport } from './lib/cost.ts';
import type { Load } from './lib/driver.ts';
import { type PhaseResult, runPhase } from './lib/phase.ts';
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
import { startBenchStack } from './lib/stack.ts';
import { prices } from './prices.ts';

const usage = `usage: npm run bench -- [--orders N] [--concurrency C | --rate R] [--warmup W] [--no-baseline] [--out file]
  --orders N        orders measured (default 180: about a minute on a 2-core machine)
  --concurrency C   closed loop: C orders in flight end to end, the next one sent when one finishes (default 16)
  --rate R          open loop instead: R orders/s, whatever the pipeline does
  --warmup W        orders sent before measuring (default 20)
  --no-baseline     skip the plain-Kafka baseline
  --out file        results JSON (default bench/results/latest.json)`;

export interface BenchOptions {
  orders: number;
  load: Load;
  warmup: number;
  baseline: boolean;
  out: string;
  stallMs: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got "${text}"`);
  return value;
}

export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      orders: { type: 'string' },
      rate: { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      'no-baseline': { type: 'boolean' },
      out: { type: 'string' },
      'stall-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (values.rate !== undefined && values.concurrency !== undefined) {
    throw new Error('choose one of --rate and --concurrency');
  }
  const load: Load =
    values.rate !== undefined
      ? { kind: 'rate', perSecond: positive('rate', values.rate, 1) }
      : { kind: 'concurrency', inFlight: Math.round(positive('concurrency', values.concurrency, 16)) };
  return {
    orders: Math.round(positive('orders', values.orders, 180)),
    load,
    warmup: values.warmup === '0' ? 0 : Math.round(positive('warmup', values.warmup, 20)),
    baseline: !values['no-baseline'],
    out: values.out ?? join(resultsDir, 'latest.json'),
    stallMs: positive('stall-timeout', values['stall-timeout'], 60) * 1000,
  };
}

const figures = (phase: PhaseResult) => ({
  p50Ms: phase.p50Ms,
  p90Ms: phase.p90Ms,
  p99Ms: phase.p99Ms,
  maxMs: phase.maxMs,
  meanMs: phase.meanMs,
  ordersPerSec: phase.ordersPerSec,
  sent: phase.sent,
  accepted: phase.accepted,
  completed: phase.completed,
  missing: phase.missing,
  failed: phase.failed,
  durationS: phase.durationS,
});

const ratioOf = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : null);

export interface BenchResult {
  command: string;
  startedAt: string;
  machine: MachineInfo;
  load: Load;
  orders: number;
  warmup: number;
  pipeline: ReturnType<typeof figures> & {
    functions: PhaseResult['stats']['functions'];
    repeatedNotifications: number;
    log: string;
  };
  baseline: (ReturnType<typeof figures> & { log: string }) | null;
  ratio: { p50Ms: number | null; p99Ms: number | null; ordersPerSec: number | null } | null;
  cost: CostReport;
  notes: string[];
}

export async function runBench(options: BenchOptions, command: string): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const stack = await startBenchStack(log);
  const machine = machineInfo(stack.kafkaVersion);
  try {
    const phaseOptions = {
      orders: options.orders,
      load: options.load,
      warmup: options.warmup,
      stallMs: options.stallMs,
      log,
    };
    const loadText =
      options.load.kind === 'rate'
        ? `${options.load.perSecond} orders/s`
        : `${options.load.inFlight} in flight`;
    log(
      `[bench] ${options.orders} orders, ${loadText}, ${options.warmup} warm-up; Kafka ${stack.kafkaBrokers.join(',')}, DynamoDB ${stack.dynamodbEndpoint}`,
    );
    const baseline = options.baseline ? await runPhase('baseline', stack, phaseOptions) : undefined;
    const pipeline = await runPhase('pipeline', stack, phaseOptions);
    machine.loadAverage.end = currentLoad();

    const cost = costReport({
      stats: pipeline.stats,
      orders: pipeline.completed,
      logBytes: pipeline.logBytes,
      tablePrefix: pipeline.tablePrefix,
      architecture: architecture.name as Architecture,
    });
    return {
      command,
      startedAt,
      machine,
      load: options.load,
      orders: options.orders,
      warmup: options.warmup,
      pipeline: {
        ...figures(pipeline),
        functions: pipeline.stats.functions,
        repeatedNotifications: pipeline.repeated,
        log: pipeline.logFile,
      },
      baseline: baseline ? { ...figures(baseline), log: baseline.logFile } : null,
      ratio: baseline
        ? {
            p50Ms: ratioOf(pipeline.p50Ms, baseline.p50Ms),
            p99Ms: ratioOf(pipeline.p99Ms, baseline.p99Ms),
            ordersPerSec: ratioOf(pipeline.ordersPerSec, baseline.ordersPerSec),
          }
        : null,
      cost,
      notes: [
        "End-to-end latency: from the 202 answer of POST /orders to the end of the notification invocation that delivered the order-shipped notification (baseline: from the acknowledged produce to the end of the last hop's batch).",
        'orders/s: finished orders divided by the time from the first submission to the last finished order.',
        "Latency is dominated by the batching windows (maximumBatchingWindowSeconds per hop) at low rates; both pipeline and baseline use the manifest's values.",
        `Prices: AWS on-demand, ${prices.region}, as of ${prices.asOf} (bench/prices.ts).`,
      ],
    };
  } finally {
    await stack.stop();
  }
}

export function printBench(result: BenchResult): void {
  const row = (
    name: string,
    f: {
      p50Ms: number;
      p90Ms: number;
      p99Ms: number;
      maxMs: number;
      ordersPerSec: number;
      completed: number;
      sent: number;
    },
  ) => [name, f.p50Ms, f.p90Ms, f.p99Ms, f.maxMs, f.ordersPerSec, `${f.completed}/${f.sent}`];
  const rows: (string | number)[][] = [
    ['', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'orders/s', 'finished'],
    row('pipeline', result.pipeline),
  ];
  if (result.baseline) rows.push(row('baseline (4 plain Kafka hops)', result.baseline));
  if (result.ratio) {
    rows.push([
      'ratio pipeline/baseline',
      result.ratio.p50Ms ?? '-',
      '',
      result.ratio.p99Ms ?? '-',
      '',
      result.ratio.ordersPerSec ?? '-',
      '',
    ]);
  }
  const m = result.machine;
  console.log(`\nEnd-to-end latency (POST accepted -> order-shipped notification delivered)\n`);
  console.log(table(rows));
  console.log(
    `\n${m.cpuModel}, ${m.cores} cores, Node ${m.node}, Kafka ${m.kafkaVersion}, load average ${m.loadAverage.start.join(' ')} -> ${m.loadAverage.end?.join(' ') ?? '?'}`,
  );

  const c = result.cost;
  const u = c.usagePerOrder;
  console.log(`\nPer order (measured)\n`);
  console.log(
    table([
      ['what', 'per order'],
      ['Lambda invocations', u.lambdaInvocations],
      ['Lambda GB-s', u.lambdaGbSeconds],
      ['API Gateway requests', u.apiRequests],
      ['DynamoDB write request units', u.dynamodbWriteUnits],
      ['DynamoDB read request units', u.dynamodbReadUnits],
      ['Kafka records produced', u.kafkaRecordsProduced],
      ['Kafka bytes produced', u.kafkaBytesProduced],
      ['Kafka bytes consumed', u.kafkaBytesConsumed],
      ['log bytes', u.logBytes],
    ]),
  );
  console.log(
    `\nCost per million orders (${c.prices.currency}, ${c.prices.region} on-demand prices as of ${c.prices.asOf}, ${c.architecture})\n`,
  );
  const k = c.costPerMillionOrders;
  console.log(
    table([
      ['item', 'USD'],
      ['Lambda requests', k.lambdaRequests],
      ['Lambda duration', k.lambdaDuration],
      ['API Gateway (REST)', k.apiGateway],
      ['DynamoDB on-demand', k.dynamodb],
      ['MSK Serverless data in/out', k.mskServerlessData],
      ['MSK Serverless storage (retention)', k.mskServerlessStorage],
      ['CloudWatch Logs ingestion', k.cloudWatchLogs],
      ['total', k.total],
    ]),
  );
  console.log(
    `\nNot per order: an MSK Serverless cluster costs about ${formatNumber(c.fixedPerMonth.mskServerlessCluster)} USD a month plus ${formatNumber(c.fixedPerMonth.mskServerlessPartitions)} USD for the manifest's partitions (a provisioned cluster: its broker hours).`,
  );
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    log(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (!options) {
    console.log(usage);
    return 0;
  }
  try {
    const result = await runBench(options, commandLine('bench'));
    printBench(result);
    const file = await writeJson(options.out, result);
    console.log(`\nwritten: ${file}`);
    const incomplete =
      result.pipeline.completed < result.pipeline.sent ||
      (result.baseline && result.baseline.completed < result.baseline.sent);
    if (incomplete) log('[bench] some orders did not finish: the figures cover the finished ones only');
    return incomplete ? 1 : 0;
  } catch (error) {
    log(error instanceof InfraError ? error.message : `[bench] failed: ${(error as Error).stack ?? error}`);
    await stopAllManaged();
    return 1;
  }
}

if (import.meta.main) process.exit(await main());
