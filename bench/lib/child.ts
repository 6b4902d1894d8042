/**
 * The process that runs the functions (`pipeline`) or the baseline hops (`baseline`) for a bench or
 * chaos run, started by ./protocol.ts with its config in BENCH_CHILD_CONFIG. It reports finished orders
 * and its counters over IPC. Chaos runs kill it with SIGKILL and start another one.
 */
import { parseFaultProfile } from '../../local/faults/profile.ts';
import { startLocalRuntime } from '../../local/runtime/runtime.ts';
import { kafkaConsumers } from '../../topology/topics.ts';
import { startHop } from './baseline.ts';
import { PipelineCounters } from './instrument.ts';
import {
  type ChildConfig,
  type ChildMessage,
  type ChildStats,
  type Completion,
  now,
  type ParentMessage,
} from './protocol.ts';
import { benchGroupId } from './stack.ts';
import { orderPathTopics } from './topics.ts';

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as ChildConfig;
const log = (line: string) => process.stderr.write(`${line}\n`);
const send = (message: ChildMessage) => process.send?.(message);

// Completions go out in small batches: one IPC message per order would cost more than the order.
let pending: Completion[] = [];
const flush = () => {
  if (pending.length === 0) return;
  send({ type: 'completed', completions: pending });
  pending = [];
};
const flushTimer = setInterval(flush, 20);

const counters = new PipelineCounters((completions) => pending.push(...completions));

const pick = <T, K extends keyof T>(from: T, ...keys: K[]) =>
  Object.fromEntries(keys.map((key) => [key, from[key]])) as Pick<T, K>;

/** The functions behind the API; besides the counters, the emulators', the pools' and the fault layer's. */
async function startPipeline() {
  const runtime = await startLocalRuntime({
    kafkaBrokers: config.kafkaBrokers,
    dynamodbEndpoint: config.dynamodbEndpoint,
    snsEndpoint: config.snsEndpoint,
    tablePrefix: config.tablePrefix,
    apiPort: config.apiPort,
    groupIdOf: (fn) => benchGroupId(config.runId, fn),
    // The counters inside each environment (relative to the project root).
    preload: ['bench/lib/environment-probe.ts'],
    onTelemetry: counters.onTelemetry,
    onReport: counters.onReport,
    wrapInvoker: counters.wrapInvoker,
    // The REPORT lines are counted from onReport; writing them would only add to the log bytes.
    invocationLog: () => undefined,
    ...(config.handlerWrapper ? { handlerWrapper: config.handlerWrapper } : {}),
    ...(config.faults ? { faults: parseFaultProfile(config.faults) } : {}),
    log,
  });
  const stats = () => ({
    emulators: Object.fromEntries(
      runtime.emulators.map(({ functionName, stats: s }) => [
        functionName,
        pick(s, 'invocations', 'failedInvocations', 'recordsSentToOnFailure', 'bisects'),
      ]),
    ),
    environments: Object.fromEntries(
      runtime.pools.map(({ functionName, stats: s }) => [
        functionName,
        pick(s, 'environmentsLost', 'coldStarts'),
      ]),
    ),
    ...(runtime.faults ? { faults: runtime.faults.counters() } : {}),
  });
  return { apiUrl: runtime.apiUrl, stop: () => runtime.stop(), stats };
}

/**
 * One hop per step of a shipped order's path (inventory, warehouse, shipper, notification), in order: no
 * batching window, at most that function's batch size per send.
 */
async function startBaseline() {
  const topics = config.baselineTopics ?? [];
  const steps = orderPathTopics.map((topic) => {
    const consumer = kafkaConsumers.find(({ trigger }) => trigger.topic === topic);
    if (!consumer) throw new Error(`no function consumes ${topic}`);
    return consumer;
  });
  const hops: Awaited<ReturnType<typeof startHop>>[] = [];
  for (const [index, { name: fn, trigger }] of steps.entries()) {
    const last = index === steps.length - 1;
    const hop = counters.functions[fn] as ChildStats['functions'][string];
    hops.push(
      await startHop({
        name: `hop${index + 1}`,
        from: topics[index] as string,
        to: topics[index + 1] as string,
        groupId: benchGroupId(config.runId, `baseline-hop${index + 1}`),
        brokers: config.kafkaBrokers,
        maxRecordsPerSend: trigger.batchSize,
        onBatch: (records, durationMs) => {
          hop.invocations += 1;
          hop.records += records.length;
          hop.billedMs += Math.ceil(durationMs);
          if (last) {
            const at = now();
            for (const record of records)
              pending.push({ orderId: record.key?.toString() ?? '', kind: 'baseline', at });
          }
        },
        log,
      }),
    );
  }
  const stop = async () => void (await Promise.all(hops.map((hop) => hop.stop())));
  return { apiUrl: undefined, stop, stats: () => ({ emulators: {}, environments: {} }) };
}

try {
  const running = config.mode === 'baseline' ? await startBaseline() : await startPipeline();
  const stats = (): ChildStats => ({
    functions: counters.functions,
    produced: counters.produced,
    dynamodb: counters.dynamodb,
    inFlight: { ...counters.inFlight },
    sns: { ...counters.sns },
    ...running.stats(),
  });
  const report = () => {
    flush();
    send({ type: 'stats', stats: stats() });
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stats') report();
    else if (message.type === 'stop') {
      void running
        .stop()
        .catch((error: unknown) => log(`[bench-child] stopping: ${error}`))
        .finally(() => {
          clearInterval(flushTimer);
          report();
          process.disconnect?.();
          // Clients that linger (sockets in TIME_WAIT, timers) must not keep a finished child alive.
          setTimeout(() => process.exit(0), 200).unref();
        });
    }
  });
  // A parent that dies (or is killed) takes its child along.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', apiUrl: running.apiUrl, pid: process.pid });
} catch (error) {
  send({ type: 'failed', error: (error as Error).stack ?? String(error) });
  process.exitCode = 1;
  clearInterval(flushTimer);
  process.disconnect?.();
}
