import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budget, esbuildArgsFor } from '../../bench/coldstart.ts';
import { functionNames, manifest } from '../../topology/manifest.ts';
import { fromProjectRoot, projectRoot } from './bundling.ts';

const run = promisify(execFile);

/** What each bundle must leave out (infra/lib/bundling.ts says why), by the module paths esbuild read. */
const leftOut: Record<string, RegExp> = {
  "zod's locales but English (a namespace `import { z }` keeps them all)": /zod\/v4\/locales\/(?!en\.js)/,
  "@platformatic/kafka's schema registry": /@platformatic\/kafka\/dist\/registries\/confluent/,
  'avsc, ajv': /node_modules\/(avsc|ajv|ajv-draft-04)\//,
  'the WebAssembly codecs': /@platformatic\/wasm-utils\//,
  'the whole credential provider chain': /@aws-sdk\/(credential-providers|nested-clients)\//,
  'the SDK clients (the runtime has them)': /@aws-sdk\/client-/,
  "the X-Ray SDK's v2 patcher (with semver), plugins, promise and SQL capture":
    /node_modules\/(semver\/|aws-xray-sdk-core\/dist\/lib\/(patchers\/(aws|promise)_p|segments\/plugins|database))/,
  "mnemonist's other structures": /mnemonist\/(?!lru-cache\.js|utils\/)/,
  "debug's browser implementation": /node_modules\/debug\/src\/browser\.js/,
  'SHA-256 in JavaScript (node:crypto instead)': /@aws-crypto\//,
};

describe('function bundles, built as the stack builds them', () => {
  let dir: string;
  const bundles = new Map<string, { bytes: number; inputs: string[] }>();

  beforeAll(async () => {
    dir = await mkdtemp(join(fromProjectRoot('.local'), 'bundling-test-'));
    await Promise.all(
      functionNames.map(async (name) => {
        const out = join(dir, name);
        const metafile = join(out, 'meta.json');
        await run(
          join(projectRoot, 'node_modules', '.bin', 'esbuild'),
          [
            ...esbuildArgsFor(join(projectRoot, manifest.functions[name].entry), out),
            `--metafile=${metafile}`,
          ],
          { cwd: projectRoot },
        );
        const meta = JSON.parse(await readFile(metafile, 'utf8')) as Metafile;
        // The modules that put code in the bundle (`meta.inputs` also lists those tree-shaken away).
        const inputs = Object.entries(meta.outputs)
          .filter(([file]) => file.endsWith('.mjs'))
          .flatMap(([, output]) => Object.entries(output.inputs))
          .filter(([, input]) => input.bytesInOutput > 0)
          .map(([path]) => path);
        bundles.set(name, { bytes: (await stat(join(out, 'index.mjs'))).size, inputs });
      }),
    );
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(functionNames)(`%s stays within ${budget.sizeKb} KB`, (name) => {
    expect(bundles.get(name)?.bytes).toBeLessThanOrEqual(budget.sizeKb * 1024);
  });

  it.each(functionNames)('%s leaves out what the functions never run', (name) => {
    const inputs = bundles.get(name)?.inputs ?? [];
    expect(inputs.length).toBeGreaterThan(0);
    for (const [what, pattern] of Object.entries(leftOut)) {
      expect(
        inputs.filter((input) => pattern.test(input)),
        what,
      ).toEqual([]);
    }
    // Still there: English error messages, the Kafka producer, and Tracer's SDK v3 client capture.
    expect(inputs.some((input) => input.endsWith('zod/v4/locales/en.js'))).toBe(true);
    expect(inputs.some((input) => input.endsWith('aws-xray-sdk-core/dist/lib/patchers/aws3_p.js'))).toBe(
      true,
    );
    expect(
      inputs.some((input) => input.endsWith('@platformatic/kafka/dist/clients/producer/producer.js')),
    ).toBe(true);
  });
});
