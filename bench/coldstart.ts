/**
 * `npm run bench:coldstart`: each function's bundle, built with the CDK stack's esbuild options
 * (infra/lib/bundling.ts, mapped the way NodejsFunction maps them to esbuild flags), its size, and the
 * time a fresh Node.js process takes to import it (module init: what a Lambda cold start adds before
 * the first invocation), beside a bare handler that imports nothing, against the budget of issue 10
 * (each bundle at most 700 KB, module init at most 200 ms median).
 *
 *   npm run bench:coldstart -- [--runs 7] [--functions order-api,inventory] [--out bench/results/coldstart.json]
 *
 * Each measurement is a new process; runs are interleaved across functions so that a noisy moment
 * hits all of them alike. The median is reported.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { architecture, bundling, functionDefaults, runtime } from '../infra/lib/bundling.ts';
import { projectRoot } from '../local/python/venv.ts';
import {
  type CommandLine,
  flagsOf,
  positiveNumber,
  readCommandLine,
  UsageError,
} from '../tools/command-line.ts';
import { type FunctionName, functionNames, manifest } from '../topology/manifest.ts';
import { commandLine, currentLoad, machineInfo, resultsDir, table, writeJson } from './lib/report.ts';
import { median } from './lib/stats.ts';

const run = promisify(execFile);
const outDir = join(projectRoot, '.local', 'bench', 'coldstart');
const BARE = 'bare-handler';
const esbuildBin = join(projectRoot, 'node_modules', '.bin', 'esbuild');
/** Opt-in on a deployed function while investigating it (infra/lib/bundling.ts does not set it). */
const SOURCE_MAPS = '--enable-source-maps';
export const budget = { sizeKb: 700, initMs: 200 } as const;

/**
 * The esbuild command line NodejsFunction runs for `bundling` (aws-cdk-lib/aws-lambda-nodejs/lib/bundling.js,
 * `buildEsbuildArgs` and `toCliArgsArray`), flag for flag, so the bundle is the one the stack deploys:
 * the options infra/lib/bundling.ts sets (mapping another one takes a line here).
 */
export function esbuildArgsFor(entry: string, outdir: string): string[] {
  const b = bundling;
  const sourceMapEnabled = b.sourceMapMode ?? b.sourceMap;
  const sourceMapValue = (b.sourceMapMode ?? 'default') === 'default' ? '' : `=${b.sourceMapMode}`;
  const externals = b.externalModules ?? ['@aws-sdk/*'];
  const reSpecifiedKeys = ['--alias', '--drop', '--pure', '--log-override', '--out-extension'];
  const extra = Object.entries(b.esbuildArgs ?? {}).flatMap(([key, value]) => {
    if (Array.isArray(value)) return value.map((item) => `${key}:${item}`);
    if (value === true || value === '') return [key];
    if (reSpecifiedKeys.includes(key)) return [`${key}:${value}`];
    return value ? [`${key}=${value}`] : [];
  });
  return [
    '--bundle',
    entry,
    `--target=${b.target ?? `node${/nodejs(\d+)/.exec(runtime.name)?.[1]}`}`,
    '--platform=node',
    ...(b.format ? [`--format=${b.format}`] : []),
    `--outfile=${join(outdir, b.format === 'esm' ? 'index.mjs' : 'index.js')}`,
    ...(b.minify ? ['--minify'] : []),
    ...(sourceMapEnabled ? [`--sourcemap${sourceMapValue}`] : []),
    ...((b.sourcesContent ?? true) ? [] : ['--sources-content=false']),
    ...externals.map((external) => `--external:${external}`),
    ...(b.tsconfig ? [`--tsconfig=${resolve(projectRoot, b.tsconfig)}`] : []),
    ...(b.banner ? [`--banner:js=${b.banner}`] : []),
    ...(b.mainFields ? [`--main-fields=${b.mainFields.join(',')}`] : []),
    ...extra,
  ];
}

/** Output bytes per npm package (first-party code counts as `(project)`). */
function packageWeights(metafile: Metafile): Record<string, number> {
  const weights = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const name = match?.[1] ?? '(project)';
      weights.set(name, (weights.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return Object.fromEntries(
    [...weights]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, bytes]) => [name, kb(bytes)]),
  );
}

async function buildOne(name: string, entry: string) {
  const dir = join(outDir, name);
  await rm(dir, { recursive: true, force: true });
  const args = esbuildArgsFor(entry, dir);
  const metafile = join(dir, 'meta.json');
  // The metafile (sizes per package) is an extra output; it changes nothing in the bundle.
  await run(esbuildBin, [...args, `--metafile=${metafile}`, '--log-level=warning'], { cwd: projectRoot });
  const file = join(dir, bundling.format === 'esm' ? 'index.mjs' : 'index.js');
  return {
    name,
    file,
    bytes: (await stat(file)).size,
    gzipBytes: gzipSync(readFileSync(file), { level: 9 }).length,
    mapBytes: (await stat(`${file}.map`).catch(() => undefined))?.size ?? 0,
    topPackages: packageWeights(JSON.parse(readFileSync(metafile, 'utf8')) as Metafile),
    deployed: [] as number[],
    withMaps: [] as number[],
  };
}

/** The environment Lambda sets, as far as module init can see it. */
function lambdaEnvironment(name: string, sourceMaps: boolean): NodeJS.ProcessEnv {
  const spec = manifest.functions[name as FunctionName];
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec?.memoryMb ?? 128),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    POWERTOOLS_SERVICE_NAME: name,
    ...functionDefaults.environment,
    ...(sourceMaps ? { NODE_OPTIONS: SOURCE_MAPS } : {}),
  };
}

/**
 * Imports `file` in a new Node.js process and returns how long the import took, in ms. A bundle that
 * cannot be imported as built fails the whole run, with the first line of its error.
 */
async function initTime(name: string, file: string, env: NodeJS.ProcessEnv): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  try {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env,
      cwd: projectRoot,
    });
    return Number(stdout);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? (error as Error).message;
    const reason = /^\w*Error:.*$/m.exec(stderr)?.[0] ?? stderr.split('\n')[0];
    throw new Error(`${name}: the bundle as built fails at import: ${reason}`);
  }
}

const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;
const ms = (n: number) => Math.round(n * 10) / 10;

const usage =
  'usage: npm run bench:coldstart -- [--runs 7] [--functions order-api,inventory] [--out bench/results/coldstart.json]';
const flags = flagsOf({ string: ['runs', 'functions', 'out'] });

/** The flags' values and the functions they name (all by default); a UsageError for a name not in the manifest. */
function settingsOf({ values }: CommandLine<typeof flags, false>) {
  const names = values.functions ? values.functions.split(',').map((n) => n.trim()) : [...functionNames];
  const unknown = names.filter((n) => !(functionNames as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown functions: ${unknown.join(', ')} (the manifest has ${functionNames.join(', ')})`,
    );
  return { values, names, runs: Math.round(positiveNumber('runs', values.runs, 7)) };
}

type Built = Awaited<ReturnType<typeof buildOne>>;

/**
 * Each bundle's figures: "init" as deployed (infra/lib/bundling.ts: no --enable-source-maps), "with
 * maps" the same bundle with NODE_OPTIONS=--enable-source-maps, as when investigating a function.
 */
function rowsOf(built: Built[]) {
  const bareMedian = median(built.find((b) => b.name === BARE)?.deployed ?? []);
  return built.map((b) => {
    const initMs = median(b.deployed);
    return {
      name: b.name,
      sizeKb: kb(b.bytes),
      gzipKb: kb(b.gzipBytes),
      sourceMapKb: kb(b.mapBytes),
      initMs: ms(initMs),
      initMsMin: ms(Math.min(...b.deployed)),
      initMsWithSourceMaps: ms(median(b.withMaps)),
      initMsOverBare: ms(initMs - bareMedian),
      withinBudget: kb(b.bytes) <= budget.sizeKb && initMs <= budget.initMs,
      topPackages: b.topPackages,
    };
  });
}

async function main(): Promise<number> {
  const command = readCommandLine({ usage, options: flags }, settingsOf);
  if (command.exitCode !== undefined) return command.exitCode;
  const { values, names, runs } = command.settings;
  const out = values.out ?? join(resultsDir, 'coldstart.json');
  const machine = machineInfo('n/a');

  await mkdir(join(outDir, 'src'), { recursive: true });
  const bareEntry = join(outDir, 'src', 'bare-handler.ts');
  await writeFile(bareEntry, 'export const handler = async () => ({ statusCode: 200, body: "ok" });\n');

  process.stderr.write(
    `[coldstart] bundling ${names.length} functions and a bare handler with infra/lib/bundling.ts options...\n`,
  );
  const built = await Promise.all([
    buildOne(BARE, bareEntry),
    ...names.map((name) => buildOne(name, join(projectRoot, manifest.functions[name as FunctionName].entry))),
  ]);

  for (let i = 0; i < runs; i++) {
    const progress = `[coldstart] import in a fresh process: round ${i + 1}/${runs}`;
    process.stderr.write(process.stderr.isTTY ? `\r${progress}` : `${progress}\n`);
    for (const b of built) {
      b.deployed.push(await initTime(b.name, b.file, lambdaEnvironment(b.name, false)));
      b.withMaps.push(await initTime(b.name, b.file, lambdaEnvironment(b.name, true)));
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  const rows = rowsOf(built);

  console.log(
    `\nModule init in a fresh Node.js ${process.version} process, median of ${runs} (${machine.cpuModel}, ${machine.cores} cores)\n`,
  );
  const columns = {
    'size KB': 'sizeKb',
    'gzip KB': 'gzipKb',
    'map KB': 'sourceMapKb',
    'init ms': 'initMs',
    'min ms': 'initMsMin',
    'with maps ms': 'initMsWithSourceMaps',
    'over bare ms': 'initMsOverBare',
  } as const;
  const cells = (r: (typeof rows)[number]) => Object.values(columns).map((key) => r[key]);
  console.log(
    table([
      ['bundle', ...Object.keys(columns), 'budget'],
      ...rows.map((r) => [r.name, ...cells(r), r.withinBudget ? 'ok' : 'OVER']),
    ]),
  );
  console.log(
    `\n"init ms": import of index.mjs as deployed; "with maps": with NODE_OPTIONS=${SOURCE_MAPS}. Budget: ${budget.sizeKb} KB and ${budget.initMs} ms median per bundle. SDK clients are external (resolved from node_modules here, from the runtime on Lambda).`,
  );
  machine.loadAverage.end = currentLoad();
  const file = await writeJson(out, {
    command: commandLine('bench:coldstart'),
    startedAt: new Date().toISOString(),
    machine,
    runs,
    runtime: runtime.name,
    architecture: architecture.name,
    budget,
    esbuild: ['esbuild', ...esbuildArgsFor('<entry>', '<out>')].join(' '),
    functions: rows,
    notes: [
      'Module init = time to import the bundle in a new Node.js process on this machine (not on Lambda: no sandbox start, no runtime bootstrap, x86 instead of arm64).',
      'Bundles are built with the esbuild options of infra/lib/bundling.ts, mapped like aws-lambda-nodejs maps them to esbuild flags.',
    ],
  });
  console.log(`\nwritten: ${file}`);
  return 0;
}

if (import.meta.main) process.exit(await main());
