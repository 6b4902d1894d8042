/**
 * `npm run bench:environments`: what an execution environment costs as a worker thread (what the local
 * runtime uses) and as a child process (the alternative), for one function's real bundle: the time until
 * it is ready to invoke (creation plus init), and the memory it adds to the machine (RSS of this process
 * for threads; the child's own RSS for processes). Prints medians over `--count` environments of each.
 */
import { fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildFunction } from '../local/runtime/environments/bundle.ts';
import { ExecutionEnvironment } from '../local/runtime/environments/environment.ts';
import { type FunctionName, manifest } from '../topology/index.ts';

const { values } = parseArgs({
  options: { function: { type: 'string', default: 'inventory' }, count: { type: 'string', default: '5' } },
});
const fn = values.function as FunctionName;
const spec = manifest.functions[fn];
const count = Number(values.count);
if (!spec || !Number.isInteger(count) || count < 1 || count > 50) {
  process.stderr.write('usage: npm run bench:environments -- [--function <name>] [--count 1..50]\n');
  process.exit(2);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const mb = (bytes: number) => bytes / 2 ** 20;

const built = await buildFunction({ functionName: fn, entry: spec.entry });
const settings = {
  functionName: fn,
  memoryMb: spec.memoryMb,
  timeoutSeconds: spec.timeoutSeconds,
  env: {},
  entryUrl: built.functionUrl,
  runtimeUrl: built.runtimeUrl,
};

async function threads(): Promise<{ readyMs: number[]; addedMb: number }> {
  const readyMs: number[] = [];
  const alive: ExecutionEnvironment[] = [];
  const before = process.memoryUsage().rss;
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    alive.push((await ExecutionEnvironment.create(settings)).environment);
    readyMs.push(performance.now() - started);
  }
  const addedMb = mb(process.memoryUsage().rss - before) / count;
  await Promise.all(alive.map((environment) => environment.discard()));
  return { readyMs, addedMb };
}

async function processes(): Promise<{ readyMs: number[]; addedMb: number }> {
  const bootstrap = join(fileURLToPath(new URL('.', built.functionUrl)), 'process-bootstrap.mjs');
  await writeFile(
    bootstrap,
    `await import(${JSON.stringify(built.functionUrl)}); process.send({ rss: process.memoryUsage().rss });\n`,
  );
  const readyMs: number[] = [];
  const rss: number[] = [];
  const children = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const child = fork(bootstrap, {
      execArgv: [`--max-old-space-size=${spec.memoryMb}`],
      env: {},
      stdio: 'ignore',
      serialization: 'json',
    });
    children.push(child);
    const ready = await new Promise<{ rss: number }>((resolve, reject) => {
      child.once('message', (message) => resolve(message as { rss: number }));
      child.once('error', reject);
    });
    readyMs.push(performance.now() - started);
    rss.push(ready.rss);
  }
  for (const child of children) child.kill();
  return { readyMs, addedMb: mb(median(rss)) };
}

const thread = await threads();
const child = await processes();
await built.remove();
const row = (name: string, r: { readyMs: number[]; addedMb: number }) =>
  `${name.padEnd(14)} ${median(r.readyMs).toFixed(0).padStart(8)} ms ${r.addedMb.toFixed(0).padStart(8)} MB`;
process.stdout.write(
  [
    `${fn}: ${count} environments of each kind (median time to ready; memory added per environment)`,
    row('worker thread', thread),
    row('child process', child),
    '',
  ].join('\n'),
);
