import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuildFailure, build } from 'esbuild';
import { esbuildSettings } from '../../../infra/lib/esbuild-settings.ts';
import { isProcessAlive } from '../../infra/process.ts';
import { projectRoot } from '../../python/venv.ts';

export interface BuiltFunction {
  /** The function's bundle, as the stack deploys it (with the preloaded modules imported first). */
  functionUrl: string;
  /** Removes the bundle. */
  remove(): Promise<void>;
}

const bundlesDir = join(projectRoot, '.local', 'bundles');

/** Removes the bundles of runtimes that are gone (a `kill -9` of `npm start` cannot remove its own). */
async function sweepStaleBundles(): Promise<void> {
  const entries = await readdir(bundlesDir).catch(() => [] as string[]);
  const stale = entries.filter((name) => {
    const pid = Number(/-(\d+)-[a-z0-9]+$/.exec(name)?.[1]);
    return Number.isInteger(pid) && pid !== process.pid && !isProcessAlive(pid);
  });
  await Promise.all(stale.map((name) => rm(join(bundlesDir, name), { recursive: true, force: true })));
}
let swept: Promise<void> | undefined;

/** The bundle's entry: the preloaded modules, then the handler (wrapped when a wrapper is given). */
function entryStub({ functionName, entry, preload = [], wrapper }: BuildRequest): string {
  const path = (file: string) => JSON.stringify(resolve(projectRoot, file));
  const handler = wrapper
    ? [
        `import { wrapHandler } from ${path(wrapper)};`,
        `import { handler as original } from ${path(entry)};`,
        `export const handler = wrapHandler(${JSON.stringify(functionName)}, original);`,
      ]
    : [`export { handler } from ${path(entry)};`];
  return [...preload.map((file) => `import ${path(file)};`), ...handler].join('\n');
}

interface BuildRequest {
  functionName: string;
  entry: string;
  preload?: readonly string[] | undefined;
  /**
   * A module exporting `wrapHandler(functionName, handler)`, bundled around the handler (tests and chaos runs
   * make records crash their consumer from inside the environment, as a poison record would).
   */
  wrapper?: string | undefined;
}

/**
 * Builds the function's bundle with the stack's esbuild settings (the same externals, aliases and
 * minification as the deployed one, so a bundling problem shows up locally). Under `.local/bundles/` in
 * the project, so the SDK clients the bundle leaves external resolve to the project's node_modules, as
 * they resolve to the Lambda runtime's on AWS.
 */
export async function buildFunction(request: BuildRequest): Promise<BuiltFunction> {
  swept ??= sweepStaleBundles();
  await swept;
  const { functionName } = request;
  const dir = join(bundlesDir, `${functionName}-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(dir, { recursive: true });
  try {
    await build({
      bundle: true,
      platform: 'node',
      format: esbuildSettings.format,
      target: esbuildSettings.target,
      mainFields: [...esbuildSettings.mainFields],
      external: [...esbuildSettings.externalModules],
      alias: { ...esbuildSettings.aliases },
      banner: { js: esbuildSettings.banner },
      sourcemap: 'linked',
      logLevel: 'silent',
      minify: true,
      // Preloaded modules first (ESM evaluates imports in order), then the function's handler.
      stdin: {
        contents: entryStub(request),
        resolveDir: projectRoot,
        sourcefile: `${functionName}-entry.ts`,
        loader: 'ts',
      },
      outfile: join(dir, 'function.mjs'),
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const [first] = (error as Partial<BuildFailure>).errors ?? [];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : '';
    const reason = first ? `${first.text}${where}` : (error as Error).message;
    throw Object.assign(new Error(`${functionName} does not bundle: ${reason}`), {
      name: 'Runtime.BundleError',
    });
  }
  return {
    functionUrl: pathToFileURL(join(dir, 'function.mjs')).href,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
