/**
 * `npm start`: the whole pipeline on this machine.
 *
 * Starts (or, with KAFKA_BROKERS / DYNAMODB_ENDPOINT / SNS_ENDPOINT set, uses) a real Kafka broker, the
 * DynamoDB endpoint (dynoxide) and the SNS endpoint (moto), creates the manifest's topics and tables, seeds the demo inventory, then runs
 * every function: order-api behind the API Gateway emulator, the Kafka consumers behind MSK event
 * source mapping emulators, the scheduled ones (the outbox sweeper) on timers. Ctrl-C stops everything it
 * started.
 *
 *   npm start -- [--port 3000] [--dashboard-port 3001] [--table-prefix order-pipeline] [--schedule-every <seconds>] [--fresh] [--watch]
 *                [--faults <profile> [--faults-seed <n>]] [--iam]
 *
 * A plain restart keeps Kafka's records and offsets and the DynamoDB tables (both live in .local/data);
 * `--fresh` deletes both together, so that offsets and tables never get out of step. `--watch` (npm run dev)
 * reloads the functions when functions/, events/ or topology/ change, without restarting Kafka or DynamoDB.
 * `--faults <profile>` puts the fault layer (local/faults/proxy.ts) between the functions and the DynamoDB and
 * SNS endpoints: AWS's errors, latency and dropped connections at the profile's rates. `--iam` makes the API
 * answer the order routes only when SigV4-signed, as API Gateway's AWS_IAM authorization does on AWS.
 */
import { randomUUID } from 'node:crypto';
import { exampleOrder } from '../functions/order-api/example-order.ts';
import { type CommandLine, flagsOf, portOf, readCommandLine, UsageError } from '../tools/command-line.ts';
import { feedDashboard } from './dashboard/kpi-feed.ts';
import { type RunningDashboard, startDashboard } from './dashboard/server.ts';
import { builtInFaultProfile, FAULT_PROFILE_NAMES, type FaultProfile } from './faults/profile.ts';
import { describeInfra } from './infra/describe.ts';
import {
  InfraError,
  type LocalInfra,
  provisionFromManifest,
  startLocalInfra,
  stopAllManaged,
} from './infra/index.ts';
import { stopOnSignal } from './infra/shutdown.ts';
import { localIamVerifier } from './runtime/iam.ts';
import { type LocalRuntime, startLocalRuntime } from './runtime/runtime.ts';
import { seedDemoInventory } from './runtime/seed.ts';
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

interface StartOptions {
  port: number;
  dashboardPort: number;
  tablePrefix: string | undefined;
  scheduleIntervalMs: number | undefined;
  fresh: boolean;
  watch: boolean;
  faults: FaultProfile | undefined;
  iam: boolean;
}

const flags = flagsOf({
  string: ['port', 'dashboard-port', 'table-prefix', 'schedule-every', 'faults', 'faults-seed'],
  boolean: ['fresh', 'watch', 'iam'],
});

/** The settings the flags (and their environment defaults) give; a UsageError for a bad value. */
function startOptionsOf({ values }: CommandLine<typeof flags, false>): StartOptions {
  const port = portOf('port', values.port ?? process.env.PORT ?? '3000', { allowZero: true });
  const dashboardPort = portOf(
    'dashboard-port',
    values['dashboard-port'] ?? process.env.DASHBOARD_PORT ?? '3001',
    {
      allowZero: true,
    },
  );
  const every = values['schedule-every'] ?? process.env.SCHEDULE_EVERY_SECONDS;
  const seconds = every === undefined || every === '' ? undefined : Number(every);
  if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0))
    throw new UsageError(`--schedule-every must be a positive number of seconds, got "${every}"`);
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
    port,
    dashboardPort,
    tablePrefix: values['table-prefix'],
    scheduleIntervalMs: seconds === undefined ? undefined : seconds * 1000,
    // ORDER_PIPELINE_FRESH=1 (what `npm run infra` reads too) means the same.
    fresh: values.fresh === true || process.env.ORDER_PIPELINE_FRESH === '1',
    watch: values.watch === true,
    faults,
    iam: values.iam === true,
  };
}

/** A ready-to-paste order made of demo SKUs; signed by curl itself (7.75+) when the API checks SigV4. */
function curlExample(apiUrl: string, iam: boolean): string {
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
function stateLine(infra: LocalInfra, fresh: boolean): string {
  if (!infra.started.kafka && !infra.started.dynamodb)
    return `State: external Kafka and DynamoDB (KAFKA_BROKERS / DYNAMODB_ENDPOINT): kept as they are${fresh ? ' (--fresh wipes only what npm start runs itself)' : ''}.`;
  // Only one of them is ours: --fresh could wipe only that one, and offsets and tables would disagree.
  if (!infra.started.kafka || !infra.started.dynamodb)
    return `State: ${infra.started.kafka ? 'Kafka' : 'DynamoDB'} is kept in ${infra.dataDir}, the other is external${
      fresh ? ': --fresh wiped only the local one, wipe the external one too to keep them in step' : ''
    }.`;
  return fresh
    ? `State: started fresh (Kafka's topics and offsets and the DynamoDB tables deleted together); kept in ${infra.dataDir} from now on.`
    : `State: Kafka's records and offsets and the DynamoDB tables are kept in ${infra.dataDir} across restarts; npm start -- --fresh wipes both together.`;
}

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options: flags }, startOptionsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const options = command.settings;

  let infra: LocalInfra | undefined;
  let runtime: LocalRuntime | undefined;
  let watched: WatchedRuntime | undefined;
  let dashboard: RunningDashboard | undefined;
  const signals = stopOnSignal(
    "the emulators, the functions' clients and the local services",
    log,
    async () => {
      const faults = (watched?.runtime ?? runtime)?.faults?.counters();
      if (faults) log(`[faults] ${JSON.stringify(faults)}`);
      await (watched ?? runtime)
        ?.stop()
        .catch((error: unknown) => log(`[start] stopping the runtime: ${error}`));
      await dashboard?.close().catch(() => undefined);
      await infra?.stop();
    },
  );

  try {
    infra = await startLocalInfra({ log, reset: options.fresh });
    const { kafkaBrokers, dynamodbEndpoint, snsEndpoint } = infra;
    const provisioned = await provisionFromManifest({ ...infra, tablePrefix: options.tablePrefix, log });
    log(describeInfra(infra, provisioned).join('\n'));
    const seeded = await seedDemoInventory(dynamodbEndpoint, options.tablePrefix);
    log(
      `[start] inventory: ${seeded.seeded.length} SKU(s) seeded, ${seeded.existing.length} already stocked (kept as they are)`,
    );
    if (signals.stopping) return 0;
    // Before the functions: the kpis function tells the dashboard every KPI record it reads.
    dashboard = await startDashboard({ kafkaBrokers, port: options.dashboardPort, log });
    const runtimeOptions = {
      kafkaBrokers,
      dynamodbEndpoint,
      snsEndpoint,
      ...(options.tablePrefix ? { tablePrefix: options.tablePrefix } : {}),
      apiPort: options.port,
      ...(options.scheduleIntervalMs ? { scheduleIntervalMs: options.scheduleIntervalMs } : {}),
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.iam ? { iam: true as const } : {}),
      // The kpis function runs in environments of its own: what it publishes reaches the dashboard here.
      ...feedDashboard(dashboard.aggregator),
      log,
    };
    if (options.watch) {
      watched = await startWatchedRuntime(runtimeOptions);
      runtime = watched.runtime as LocalRuntime;
    } else {
      runtime = await startLocalRuntime(runtimeOptions);
    }
    const apiUrl = runtime.apiUrl ?? '';
    const width = Math.max(...runtime.functions.map((fn) => fn.name.length));
    log(
      [
        '',
        'Order pipeline running.',
        `API: ${apiUrl}`,
        `Live dashboard: ${dashboard.url}`,
        ...runtime.functions.map(
          (fn) =>
            `  ${fn.name.padEnd(width)}  ${fn.trigger}${fn.groupId ? `  (consumer group ${fn.groupId})` : ''}`,
        ),
        '',
        stateLine(infra, options.fresh),
        ...(runtime.faults
          ? [
              `Faults: profile "${options.faults?.name}" (${options.faults?.description}), seed ${options.faults?.seed}: the functions reach DynamoDB at ${runtime.faults.dynamodbEndpoint} and SNS at ${runtime.faults.snsEndpoint}; the counters are printed at Ctrl-C.`,
            ]
          : []),
        ...(options.iam
          ? [
              `IAM: the order routes need SigV4 signatures (service execute-api, region ${localIamVerifier().region}) by access key ${localIamVerifier().credentials.accessKeyId}; unsigned or wrongly signed requests get 403, as on AWS. GET /health stays open.`,
            ]
          : []),
        ...(options.watch
          ? [
              'Watch: a change in functions/, events/ or topology/ reloads the functions (same consumer groups, same data).',
            ]
          : []),
        '',
        'Try:',
        curlExample(apiUrl, options.iam),
        '',
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
    return -1;
  } catch (error) {
    if (error instanceof InfraError) log(`\n${error.message}`);
    else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      log(
        `\nThe API port ${options.port} or the dashboard port ${options.dashboardPort} is in use: stop what holds it, or choose others (npm start -- --port <port> --dashboard-port <port>).`,
      );
    else log(`\nnpm start failed: ${(error as Error).stack ?? error}`);
    await (watched ?? runtime)?.stop().catch(() => undefined);
    await dashboard?.close().catch(() => undefined);
    await Promise.all([infra?.stop(), stopAllManaged()]);
    return 1;
  }
}

const code = await main();
// -1: running until a signal arrives.
if (code >= 0) process.exit(code);
