/**
 * `npm run bench:environments`: what an execution environment costs as a process (what the local runtime
 * uses) and as a worker thread (the alternative), for one function's real bundle: the time until it is
 * ready to invoke (creation plus init), and the memory it adds to the machine (the process's own RSS; for
 * threads, what this process's RSS grew by). Prints medians over `--count` environments of each.
 */

import { Worker } from 'node:worker_threads';
import { buildFunction } from '../local/runtime/environments/bundle.ts';
import { ExecutionEnvironment } from '../local/runtime/environments/environment.ts';
import { readCommandLine, UsageError } from '../tools/command-line.ts';
import { type FunctionName, manifest } from '../topology/index.ts';
import { table } from './lib/report.ts';
import { median } from './lib/stats.ts';

const command = readCommandLine(
  {
    usage: 'usage: npm run bench:environments -- [--function <name>] [--count 1..50]',
    options: { function: { type: 'string', default: 'inventory' }, count: { type: 'string', default: '5' } },
  },
  ({ values }) => {
    if (!Object.hasOwn(manifest.functions, values.function))
      throw new UsageError(`unknown function "${values.function}"`);
    const count = Number(values.count);
    if (!Number.isInteger(count) || count < 1 || count > 50)
      throw new UsageError(`--count must be a whole number from 1 to 50, got "${values.count}"`);
    return { fn: values.function as FunctionName, count };
  },
);
if (command.exitCode !== undefined) process.exit(command.exitCode);
const { fn, count } = command.settings;
const spec = manifest.functions[fn];
/** Per kind: each environment's time to ready (ms) and the memory one adds (MB). */
type Figures = { readyMs: number[]; addedMb: number };

const built = await buildFunction({ functionName: fn, entry: spec.entry });
const settings = {
  functionName: fn,
  memoryMb: spec.memoryMb,
  timeoutSeconds: spec.timeoutSeconds,
  env: {},
  entryUrl: built.functionUrl,
};

/** Starts `count` environments one after the other: each one's time to ready, and all of them alive. */
async function startEach<T>(start: () => Promise<T>): Promise<{ alive: T[]; readyMs: number[] }> {
  const alive: T[] = [];
  const readyMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    alive.push(await start());
    readyMs.push(performance.now() - started);
  }
  return { alive, readyMs };
}

async function processes(): Promise<Figures> {
  const { alive, readyMs } = await startEach(
    async () => (await ExecutionEnvironment.create(settings)).environment,
  );
  const rss = await Promise.all(
    alive.map(async (environment) => (await environment.invoke(null, 'probe')).maxMemoryUsedMb),
  );
  await Promise.all(alive.map((environment) => environment.discard()));
  return { readyMs, addedMb: median(rss) };
}

/** A thread that imports the same bundle and says when it is ready. */
const threadBootstrap = `import { parentPort, workerData } from 'node:worker_threads';
await import(workerData.entryUrl);
parentPort.postMessage('ready');`;

async function threads(): Promise<Figures> {
  const before = process.memoryUsage().rss;
  const { alive, readyMs } = await startEach(async () => {
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(threadBootstrap)}`), {
      workerData: { entryUrl: built.functionUrl },
      resourceLimits: { maxOldGenerationSizeMb: spec.memoryMb },
    });
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    return worker;
  });
  const addedMb = (process.memoryUsage().rss - before) / 2 ** 20 / count;
  await Promise.all(alive.map((worker) => worker.terminate()));
  return { readyMs, addedMb };
}

const child = await processes();
const thread = await threads();
await built.remove();
const row = (kind: string, r: Figures) => [kind, Math.round(median(r.readyMs)), Math.round(r.addedMb)];
console.log(`${fn}: ${count} environments of each kind (median time to ready; memory added per environment)`);
console.log(table([['kind', 'ready ms', 'added MB'], row('process', child), row('worker thread', thread)]));
