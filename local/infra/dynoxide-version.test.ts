import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DYNOXIDE_VERSION, dynoxideBinary, dynoxideBuildCommand } from './dynamodb.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** One dynoxide everywhere: the npm pin, the binary it installs, the build command the docs give, Docker's image. */
describe('the pinned dynoxide release', () => {
  it('is the version package.json pins and npm installed', () => {
    expect(JSON.parse(read('package.json')).optionalDependencies['@dynoxide/linux-x64']).toBe(
      DYNOXIDE_VERSION,
    );
    expect(execFileSync(dynoxideBinary({}), ['--version'], { encoding: 'utf8' }).trim()).toBe(
      `dynoxide ${DYNOXIDE_VERSION}`,
    );
  });

  it('is what the build command, the docs and docker-compose.yml name', () => {
    expect(dynoxideBuildCommand).toContain(`--tag v${DYNOXIDE_VERSION} dynoxide-rs`);
    for (const doc of ['README.md', 'local/README.md']) {
      expect(read(doc), doc).toContain(dynoxideBuildCommand);
    }
    expect(read('docker-compose.yml')).toContain(`image: ghcr.io/nubo-db/dynoxide:${DYNOXIDE_VERSION}`);
  });
});
