/**
 * `npm start`: the whole pipeline on this machine (local/README.md). Starts (or, with KAFKA_BROKERS /
 * DYNAMODB_ENDPOINT / SNS_ENDPOINT set, uses) a real Kafka broker, the DynamoDB endpoint (dynoxide) and the
 * SNS endpoint (moto), creates the manifest's topics and tables, seeds the demo inventory, then runs every
 * function behind the emulators of what invokes it, and the live dashboard. Ctrl-C stops everything it started.
 */
import { randomUUID } from 'node:crypto';
import { exampleOrder } from '../functions/order-api/example-order.ts';
import {
  type CommandLine,
  flagsOf,
  portOf,
  positiveNumber,
  readCommandLine,
  UsageError,
} from '../tools/command-line.ts';
import { feedDashboard } from './dashboard/kpi-feed.ts';
import { type RunningDashboard, startDashboard } from './dashboard/server.ts';
import { builtInFaultProfile, FAULT_PROFILE_NAMES } from './faults/profile.ts';
import { InfraError, type LocalInfra, startProvisioned, stopAllManaged } from './infra/index.ts';
import { stopOnSignal } from './infra/process.ts';
import { type LocalRuntime, startLocalRuntime } from './runtime/runtime.ts';
import { seedDemoInventory } from './runtime/seed.ts';
import { localIamVerifier } from './runtime/sigv4-verifier.ts';
import { startWatchedRuntime, type WatchedRuntime } from './runtime/watch.ts';

const usage =
  'usage: npm start -- [--port <api port, default $PORT or 3000>] [--table-prefix <prefix>]\n' +
  '                    [--dashboard-port <live dashboard port, default $DASHBOARD_PORT or 3001>]\n' +
  '                    [--schedule-every <seconds between runs of scheduled functions, default $SCHEDULE_EVERY_SECONDS or the manifest rate>]\n' +
  "                    [--fresh: delete Kafka's topics and offsets and the DynamoDB tables, together, first]\n" +
  '                    [--watch: reload the functions when their code changes (npm run dev)]\n' +
  `                    [--faults <profile: ${FAULT_PROFILE_NAMES.join(' | ')}>: inject AWS errors between the functions and DynamoDB/SNS]\n` +
  '                    [--faults-seed <integer seed of the fault draws, default 1>]\n' +
  '                    [--iam: the order routes need SigV4 signatures (execute-api) by $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY, default local / local]';

const log = (line: string) => process.stderr.write(`${line}\n`);

const flags = flagsOf({
  string: ['port', 'dashboard-port', 'table-prefix', 'schedule-every', 'faults', 'faults-seed'],
  boolean: ['fresh', 'watch', 'iam'],
});

/** The settings the flags (and their environment defaults) give; a UsageError for a bad value. */
function startOptionsOf({ values }: CommandLine<typeof flags, false>) {
  const dashboard = values['dashboard-port'] ?? process.env.DASHBOARD_PORT ?? '3001';
  const dashboardPort = portOf('dashboard-port', dashboard, { allowZero: true });
  const every = values['schedule-every'] || process.env.SCHEDULE_EVERY_SECONDS || undefined;
  const seedText = values['faults-seed'];
  const seed = seedText === undefined ? undefined : Number(seedText);
  if (seed !== undefined && !Number.isSafeInteger(seed))
    throw new UsageError(`--faults-seed must be an integer, got "${seedText}"`);
  if (seed !== undefined && values.faults === undefined)
    throw new UsageError('--faults-seed needs --faults <profile>');
  const faults = values.faults === undefined ? undefined : builtInFaultProfile(values.faults, seed);
  if (values.faults !== undefined && !faults)
    throw new UsageError(
      `--faults: unknown profile "${values.faults}"; the profiles are ${FAULT_PROFILE_NAMES.join(', ')}`,
    );
  return {
    dashboardPort,
    // ORDER_PIPELINE_FRESH=1 (what `npm run infra` reads too) means the same.
    fresh: values.fresh === true || process.env.ORDER_PIPELINE_FRESH === '1',
    watch: values.watch === true,
    /** The runtime's own options, as startLocalRuntime takes them. */
    runtime: {
      apiPort: portOf('port', values.port ?? process.env.PORT ?? '3000', { allowZero: true }),
      tablePrefix: values['table-prefix'],
      scheduleIntervalMs: every ? positiveNumber('schedule-every', every, 0) * 1000 : undefined,
      faults,
      iam: values.iam ? (true as const) : undefined,
    },
  };
}

type StartOptions = ReturnType<typeof startOptionsOf>;

/** A ready-to-paste order made of demo SKUs; signed by curl itself (7.75+) when the API checks SigV4. */
function curlExample(apiUrl: string, iam: boolean | undefined): string {
  const body = exampleOrder();
  const { credentials, region } = localIamVerifier();
  const sign = iam
    ? ` --aws-sigv4 'aws:amz:${region}:execute-api' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"`
    : '';
  return [
    ...(iam && credentials.accessKeyId === 'local'
      ? ['AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local  # the credentials the API checks']
      : []),
    `curl -s${sign} -X POST ${apiUrl}/orders -H 'Content-Type: application/json' -H 'Idempotency-Key: ${randomUUID()}' \\`,
    `  -d '${JSON.stringify(body)}'`,
    `curl -s${sign} ${apiUrl}/orders/<orderId>`,
  ].join('\n');
}

/** What this run kept or wiped: the services this process started keep their state in .local/data. */
function stateLine({ started, dataDir }: LocalInfra, fresh: boolean): string {
  if (started.kafka && started.dynamodb)
    return fresh
      ? `State: started fresh (Kafka's topics and offsets and the DynamoDB tables deleted together); kept in ${dataDir} from now on.`
      : `State: Kafka's records and offsets and the DynamoDB tables are kept in ${dataDir} across restarts; npm start -- --fresh wipes both together.`;
  // An external one is not ours to wipe: --fresh wipes only the local one, and offsets and tables would disagree.
  const local = started.kafka ? 'Kafka' : started.dynamodb ? 'DynamoDB' : undefined;
  return `State: ${local ? `${local} is kept in ${dataDir}, the other is external` : 'external Kafka and DynamoDB (KAFKA_BROKERS / DYNAMODB_ENDPOINT): kept as they are'}${fresh ? ': --fresh wipes only what npm start runs itself' : ''}.`;
}

/** The lines printed once everything runs: where the API and dashboard are, each function, state, extras, a curl. */
function summary(
  options: StartOptions,
  infra: LocalInfra,
  runtime: LocalRuntime,
  dashboardUrl: string,
): string[] {
  const apiUrl = runtime.apiUrl ?? '';
  const width = Math.max(...runtime.functions.map((fn) => fn.name.length));
  const { faults, iam } = options.runtime;
  const { credentials, region } = localIamVerifier();
  return [
    '',
    'Order pipeline running.',
    `API: ${apiUrl}`,
    `Live dashboard: ${dashboardUrl}`,
    ...runtime.functions.map(
      (fn) =>
        `  ${fn.name.padEnd(width)}  ${fn.trigger}${fn.groupId ? `  (consumer group ${fn.groupId})` : ''}`,
    ),
    '',
    stateLine(infra, options.fresh),
    ...(faults && runtime.faults
      ? [
          `Faults: profile "${faults.name}" (${faults.description}), seed ${faults.seed}: the functions reach DynamoDB at ${runtime.faults.dynamodbEndpoint} and SNS at ${runtime.faults.snsEndpoint}; the counters are printed at Ctrl-C.`,
        ]
      : []),
    ...(iam
      ? [
          `IAM: the order routes need SigV4 signatures (service execute-api, region ${region}) by access key ${credentials.accessKeyId}; unsigned or wrongly signed requests get 403, as on AWS. GET /health stays open.`,
        ]
      : []),
    ...(options.watch
      ? [
          'Watch: a change in functions/, events/ or topology/ reloads the functions (same consumer groups, same data).',
        ]
      : []),
    '',
    'Try:',
    curlExample(apiUrl, iam),
    '',
    'Ctrl-C stops everything.',
    '',
  ];
}

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options: flags }, startOptionsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const options = command.settings;

  let infra: LocalInfra | undefined;
  let runtime: LocalRuntime | WatchedRuntime | undefined;
  let dashboard: RunningDashboard | undefined;
  // What Ctrl-C and a failed start both do; the services still starting are stopped by stopOnSignal.
  const stop = async () => {
    const faults = (runtime && 'generation' in runtime ? runtime.runtime : runtime)?.faults?.counters();
    if (faults) log(`[faults] ${JSON.stringify(faults)}`);
    await runtime?.stop().catch((error: unknown) => log(`[start] stopping the runtime: ${error}`));
    await dashboard?.close().catch(() => undefined);
    await infra?.stop();
  };
  const signals = stopOnSignal("the emulators, the functions' clients and the local services", log, stop);

  try {
    const { tablePrefix } = options.runtime;
    infra = await startProvisioned({ log, reset: options.fresh, tablePrefix });
    const { kafkaBrokers, dynamodbEndpoint, snsEndpoint } = infra;
    const seeded = await seedDemoInventory(dynamodbEndpoint, tablePrefix);
    log(
      `[start] inventory: ${seeded.seeded.length} SKU(s) seeded, ${seeded.existing.length} already stocked (kept as they are)`,
    );
    if (signals.stopping) return 0;
    // Before the functions: the kpis function tells the dashboard every KPI record it reads.
    dashboard = await startDashboard({ kafkaBrokers, port: options.dashboardPort, log });
    runtime = await (options.watch ? startWatchedRuntime : startLocalRuntime)({
      kafkaBrokers,
      dynamodbEndpoint,
      snsEndpoint,
      ...options.runtime,
      log,
      // The kpis function runs in environments of its own: what it publishes reaches the dashboard here.
      ...feedDashboard(dashboard.aggregator),
    });
    const running = 'generation' in runtime ? (runtime.runtime as LocalRuntime) : runtime;
    log(summary(options, infra, running, dashboard.url).join('\n'));
    return -1;
  } catch (error) {
    if (error instanceof InfraError) log(`\n${error.message}`);
    else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      log(
        `\nThe API port ${options.runtime.apiPort} or the dashboard port ${options.dashboardPort} is in use: stop what holds it, or choose others (npm start -- --port <port> --dashboard-port <port>).`,
      );
    else log(`\nnpm start failed: ${(error as Error).stack ?? error}`);
    await stop().catch(() => undefined);
    await stopAllManaged();
    return 1;
  }
}

const code = await main();
// -1: running until a signal arrives.
if (code >= 0) process.exit(code);
