import { type FSWatcher, statSync, watch } from 'node:fs';
import { join, relative } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { projectRoot } from '../python/venv.ts';
import type { LocalRuntime, LocalRuntimeOptions } from './runtime.ts';

/** What watch mode watches by default: the functions' code, the event schemas, the manifest. */
export const defaultWatchPaths = ['functions', 'events', 'topology'].map((dir) => join(projectRoot, dir));

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

export interface WatchedRuntime {
  /** The running generation's runtime; undefined after a reload that failed (until the next change). */
  readonly runtime: LocalRuntime | undefined;
  /** 1 for the first start, then one more per reload. */
  readonly generation: number;
  /** Reloads now (what a change does after the debounce); resolves when the new generation runs. */
  reload(changed?: string[]): Promise<ReloadResult>;
  /** Stops watching and the running generation. */
  stop(): Promise<void>;
}

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
export async function startWatchedRuntime(options: WatchedRuntimeOptions): Promise<WatchedRuntime> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const debounceMs = options.debounceMs ?? 300;
  const runtimeUrl = new URL('./runtime.ts', import.meta.url).href;
  let generation = 0;
  let runtime: LocalRuntime | undefined;
  let apiPort = options.apiPort;
  let stopped = false;

  const startGeneration = async (): Promise<LocalRuntime> => {
    generation += 1;
    // Each tsImport call loads the module and everything it imports, statically or later dynamically,
    // in a namespace of its own.
    const fresh = (await tsImport(runtimeUrl, import.meta.url)) as {
      startLocalRuntime: (o: LocalRuntimeOptions) => Promise<LocalRuntime>;
    };
    const started = await fresh.startLocalRuntime({
      ...options,
      ...(apiPort === undefined ? {} : { apiPort }),
    });
    // Port 0 picked a free port: later generations keep it, so the API's URL does not change.
    if (started.apiUrl) apiPort = Number(new URL(started.apiUrl).port);
    return started;
  };

  runtime = await startGeneration();

  // One reload at a time; changes that arrive during one are gathered into the next.
  let chain: Promise<unknown> = Promise.resolve();
  const reload = (changed: string[] = []): Promise<ReloadResult> => {
    const next = chain.then(async (): Promise<ReloadResult> => {
      if (stopped) return { generation, changed, ...(runtime ? { runtime } : {}) };
      const previous = runtime;
      runtime = undefined;
      await previous?.stop();
      try {
        runtime = await startGeneration();
        const result = { generation, changed, runtime };
        log(
          `[watch] reloaded ${runtime.functions.map((fn) => fn.name).join(', ')} (generation ${generation}${
            changed.length > 0 ? `, after ${changed.join(', ')} changed` : ''
          })`,
        );
        options.onReload?.(result);
        return result;
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        log(
          `[watch] reload failed, the functions are stopped until the next change: ${failure.stack ?? failure}`,
        );
        const result = { generation, changed, error: failure };
        options.onReload?.(result);
        return result;
      }
    });
    chain = next.catch(() => undefined);
    return next;
  };

  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const onChange = (base: string, isFile: boolean, filename: string | Buffer | null) => {
    const file = filename && !isFile ? join(base, filename.toString()) : base;
    if (stopped || !isRelevant(file)) return;
    pending.add(relative(projectRoot, file));
    clearTimeout(timer);
    timer = setTimeout(() => {
      const changed = [...pending].sort();
      pending.clear();
      void reload(changed);
    }, debounceMs);
  };
  const watchers: FSWatcher[] = (options.watchPaths ?? defaultWatchPaths).map((path) => {
    const isFile = statSync(path).isFile();
    return watch(path, { recursive: !isFile }, (_event, filename) => onChange(path, isFile, filename));
  });
  log(
    `[watch] watching ${(options.watchPaths ?? defaultWatchPaths).map((path) => relative(projectRoot, path) || path).join(', ')}: a change reloads the functions (Kafka and DynamoDB keep running)`,
  );

  return {
    get runtime() {
      return runtime;
    },
    get generation() {
      return generation;
    },
    reload,
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
