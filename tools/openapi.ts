/**
 * `npm run openapi`: writes order-api's OpenAPI 3.1 document (functions/order-api/openapi.ts) to docs/openapi.json.
 *
 *   npm run openapi -- [--out <file>] [--check]
 *
 * `--check` writes nothing and exits 1 when the file differs from the generated document (for CI).
 * Exit codes: 0 done (or up to date), 1 out of date, 2 bad arguments.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { orderApiOpenApi } from '../functions/order-api/openapi.ts';
import { readCommandLine } from './command-line.ts';

const command = readCommandLine({
  usage: 'usage: npm run openapi -- [--out <file>] [--check]   (default file: docs/openapi.json)',
  options: { out: { type: 'string' }, check: { type: 'boolean' } },
  prefix: 'openapi: ',
});
if (command.exitCode !== undefined) process.exit(command.exitCode);
const args = command.settings.values;
const root = join(import.meta.dirname, '..');
const file = resolve(args.out ?? join(root, 'docs', 'openapi.json'));
// Formatted as `biome check` wants the file (the repository's lint covers docs/ too).
const text = execFileSync(
  join(root, 'node_modules', '.bin', 'biome'),
  ['format', '--stdin-file-path=openapi.json'],
  {
    input: JSON.stringify(orderApiOpenApi(), null, 2),
    encoding: 'utf8',
  },
);
if (args.check) {
  const current = await readFile(file, 'utf8').catch(() => '');
  if (current !== text) {
    console.error(`openapi: ${file} is out of date; run npm run openapi`);
    process.exit(1);
  }
  console.log(`openapi: ${file} is up to date`);
} else {
  await writeFile(file, text);
  console.log(`openapi: wrote ${file}`);
}
