/**
 * `npm run openapi`: writes order-api's OpenAPI 3.1 document (functions/order-api/openapi.ts) to docs/openapi.json.
 *
 *   npm run openapi -- [--out <file>] [--check]
 *
 * `--check` writes nothing and exits 1 when the file differs from the generated document (for CI).
 * Exit codes: 0 done (or up to date), 1 out of date, 2 bad arguments.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { orderApiOpenApi } from '../functions/order-api/openapi.ts';
import { formattedJson, readCommandLine } from './command-line.ts';

const command = readCommandLine({
  usage: 'usage: npm run openapi -- [--out <file>] [--check]   (default file: docs/openapi.json)',
  options: { out: { type: 'string' }, check: { type: 'boolean' } },
  prefix: 'openapi: ',
});
if (command.exitCode !== undefined) process.exit(command.exitCode);
const { out, check } = command.settings.values;
const file = resolve(out ?? join(import.meta.dirname, '..', 'docs', 'openapi.json'));
const text = formattedJson(orderApiOpenApi());
if (!check) {
  await writeFile(file, text);
  console.log(`openapi: wrote ${file}`);
} else if ((await readFile(file, 'utf8').catch(() => '')) !== text) {
  console.error(`openapi: ${file} is out of date; run npm run openapi`);
  process.exit(1);
} else {
  console.log(`openapi: ${file} is up to date`);
}
