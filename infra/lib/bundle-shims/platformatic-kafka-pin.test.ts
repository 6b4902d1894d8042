import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * platformatic-kafka.ts imports the package's private `dist/` modules, which any release may move. The
 * package is pinned exactly, so a new version comes in only through an edit of package.json, and this
 * test says what to check then (bundle-shims.test.ts checks that the names are the package's own objects).
 */
const root = join(import.meta.dirname, '..', '..', '..');
const readJson = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8'));
const shimSource = readFileSync(join(import.meta.dirname, 'platformatic-kafka.ts'), 'utf8');
const internals = [
  ...shimSource.matchAll(/from '\.\.\/\.\.\/\.\.\/(node_modules\/@platformatic\/kafka\/[^']+)'/g),
].map((match) => match[1] as string);

describe('the @platformatic/kafka internals the bundle shim imports', () => {
  it('come from a version pinned exactly, the one installed', () => {
    const pinned = readJson('package.json').dependencies['@platformatic/kafka'];
    expect(pinned, 'pin @platformatic/kafka to an exact version: the shim imports its private files').toMatch(
      /^\d+\.\d+\.\d+$/,
    );
    expect(readJson('node_modules/@platformatic/kafka/package.json').version).toBe(pinned);
    expect(readJson('package-lock.json').packages['node_modules/@platformatic/kafka'].version).toBe(pinned);
  });

  it('are where the shim imports them from', () => {
    expect(internals.length).toBeGreaterThan(0);
    const missing = internals.filter((file) => !existsSync(join(root, file)));
    expect(
      missing,
      'moved in this @platformatic/kafka release: import them from where its index does now',
    ).toEqual([]);
  });
});
