import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The shims import their packages' private files (`../../../node_modules/<package>/<file>`), which any
 * release may move or rename; esbuild would then fail the stack's build. This says which file moved, and
 * where to look: the module the package's index takes the name from now.
 */
const root = join(import.meta.dirname, '..', '..', '..');
const shims = readdirSync(import.meta.dirname).filter(
  (file) => file.endsWith('.ts') && !file.endsWith('.test.ts'),
);
const internals = shims.flatMap((shim) =>
  [
    ...readFileSync(join(import.meta.dirname, shim), 'utf8').matchAll(
      /from '\.\.\/\.\.\/\.\.\/(node_modules\/[^']+)'/g,
    ),
  ].map((match) => ({ shim, file: match[1] as string })),
);

describe("the packages' private files the bundle shims import", () => {
  it('are found in the shims', () => {
    for (const shim of ['aws-xray-sdk-core.ts', 'mnemonist.ts', 'debug.ts', 'platformatic-kafka.ts']) {
      expect(
        internals.some((internal) => internal.shim === shim),
        shim,
      ).toBe(true);
    }
  });

  it('are where the shims import them from', () => {
    const missing = internals.filter(({ file }) => !existsSync(join(root, file)));
    expect(missing, 'moved in a release: import them from where the package index does now').toEqual([]);
  });
});
