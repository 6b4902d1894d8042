import { type FSWatcher, statSync, watch } from 'node:fs';
import { join, relative } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { projectRoot } from '../python/venv.ts';
import type { LocalRuntime, LocalRuntimeOptions } from './runtime.ts';

/** What watch mode watches by default: the functions' code, the event schemas, the manifest. */
const defaultWatchPaths = ['functions', 'events', 'topology'].map((dir) => join(projectRoot, dir));

export interface WatchedRuntimeOptions extends LocalRuntimeOptions {
  /** Directories (recursively) or files whose changes reload the functions; default {@link defaultWatchPaths}. */
  watchPaths?: readonly string[];
  /** Quiet time after the last change before reloading (an editor saves in bursts). Default 300 ms. */
  debounceMs?: number;
  /** Called after each reload (or failed reload), e.g. to print a summary. */
  onReload?: (result: ReloadResult) => void;
}

export interface ReloadResult {
  generation: number;
  /** The changed files (relative to the project root) that caused it; empty when asked for. */
  changed: string[];
  runtime?: LocalRuntime;
  error?: Error;
}

export type WatchedRuntime = Awaited<ReturnType<typeof startWatchedRuntime>>;

/** Test files, the generated samples and editors' temporary files change no function. */
function isRelevant(file: string): boolean {
  if (!/\.(ts|mts|js|mjs|json)$/.test(file)) return false;
  if (/\.test\.ts$/.test(file)) return false;
  return !file.split(/[\\/]/).includes('samples');
}

/**
 * Runs the local runtime and starts it again, with fresh code, whenever a watched file changes. Kafka and
 * DynamoDB are not touched: the emulators of the old generation stop (an invocation in flight finishes
 * and only what succeeded is committed), then the new generation's join the same consumer groups and go
 * on from the committed offsets.
 *
 * Fresh code: every generation imports `runtime.ts` — and through it the manifest, the emulators and
 * every handler with all of their imports — in a tsx namespace of its own (`tsImport`), a separate ESM
 * module graph; a cache-busting query on the entry alone would reuse the cached transitive imports. The
 * old graphs stay in memory (ESM modules cannot be unloaded): fine for a development session.
 */
export async function startWatchedRuntime(options: WatchedRuntimeOptions) {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const watchPaths = options.watchPaths ?? defaultWatchPaths;
  const runtimeUrl = new URL('./runtime.ts', import.meta.url).href;
  let generation = 0;
  let runtime: LocalRuntime | undefined;
  let apiPort = options.apiPort;
  let stopped = false;

  const startGeneration = async (): Promise<LocalRuntime> => {
    generation += 1;
    // Each tsImport call loads the module and everything it imports, statically or later dynamically,
    // in a namespace of its own.
    const fresh = (await tsImport(runtimeUrl, import.meta.url)) as typeof import('./runtime.ts');
    runtime = await fresh.startLocalRuntime({ ...options, apiPort });
    // Port 0 picked a free port: later generations keep it, so the API's URL does not change.
    if (runtime.apiUrl) apiPort = Number(new URL(runtime.apiUrl).port);
    return runtime;
  };
  await startGeneration();

  // One reload at a time; changes that arrive during one are gathered into the next.
  let chain: Promise<unknown> = Promise.resolve();
  const reload = (changed: string[] = []): Promise<ReloadResult> => {
    const next = chain.then(async (): Promise<ReloadResult> => {
      if (stopped) return { generation, changed, runtime };
      await runtime?.stop();
      runtime = undefined;
      const result: ReloadResult = await startGeneration().then(
        (started) => ({ generation, changed, runtime: started }),
        (error: unknown) => ({
          generation,
          changed,
          error: error instanceof Error ? error : new Error(String(error)),
        }),
      );
      const after = changed.length > 0 ? `, after ${changed.join(', ')} changed` : '';
      log(
        result.runtime
          ? `[watch] reloaded ${result.runtime.functions.map((fn) => fn.name).join(', ')} (generation ${generation}${after})`
          : `[watch] reload failed, the functions are stopped until the next change: ${result.error?.stack ?? result.error}`,
      );
      options.onReload?.(result);
      return result;
    });
    chain = next.catch(() => undefined);
    return next;
  };

  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = watchPaths.map((path) => {
    const isFile = statSync(path).isFile();
    return watch(path, { recursive: !isFile }, (_event, filename) => {
      const file = filename && !isFile ? join(path, filename.toString()) : path;
      if (stopped || !isRelevant(file)) return;
      pending.add(relative(projectRoot, file));
      clearTimeout(timer);
      timer = setTimeout(() => {
        const changed = [...pending].sort();
        pending.clear();
        void reload(changed);
      }, options.debounceMs ?? 300);
    });
  });
  log(
    `[watch] watching ${watchPaths.map((path) => relative(projectRoot, path) || path).join(', ')}: a change reloads the functions (Kafka and DynamoDB keep running)`,
  );

  return {
    /** The running generation's runtime; undefined after a reload that failed (until the next change). */
    get runtime() {
      return runtime;
    },
    /** 1 for the first start, then one more per reload. */
    get generation() {
      return generation;
    },
    /** Reloads now (what a change does after the debounce); resolves when the new generation runs. */
    reload,
    /** Stops watching and the running generation. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
      await chain;
      await runtime?.stop();
      runtime = undefined;
    },
  };
}
