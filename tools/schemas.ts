/**
 * `npm run schemas`: writes the JSON Schema of every event (events/json-schemas.ts) to
 * events/schemas/<Topic>/v<N>.schema.json (<Topic>/<EventType>.v<N>.schema.json for a topic's other
 * event types), and refuses to overwrite a committed version with a schema that is not compatible with
 * it both ways (events/json-schema-compatibility.ts): a breaking change needs a new `version`
 * (events/README.md, "Making a breaking change").
 *
 *   npm run schemas -- [--check]
 *
 * `--check` writes nothing and exits 1 when a file is missing or differs from the generated schema.
 * Exit codes: 0 done (or up to date), 1 refused or out of date, 2 bad arguments.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { committedSchemas, currentSchemas, planSchemaWrites, SCHEMAS_DIR } from '../events/json-schemas.ts';
import { formattedJson, readCommandLine } from './command-line.ts';

const command = readCommandLine({
  usage: 'usage: npm run schemas -- [--check]',
  options: { check: { type: 'boolean' } },
  prefix: 'schemas: ',
});
if (command.exitCode !== undefined) process.exit(command.exitCode);
const args = command.settings.values;
const root = join(import.meta.dirname, '..');

const plans = planSchemaWrites(currentSchemas(), await committedSchemas());
const refused = plans.flatMap((plan) => (plan.action === 'incompatible' ? plan.problems : []));
if (refused.length > 0) {
  console.error(
    `schemas: refused, not compatible with the committed version (make a new version instead):\n  ${refused.join('\n  ')}`,
  );
  process.exit(1);
}
const changes = plans.filter((plan) => plan.action !== 'unchanged');
for (const { action, next } of changes) {
  const path = join(SCHEMAS_DIR, next.file);
  const file = relative(root, path);
  if (args.check) {
    console.error(`schemas: ${file} is ${action === 'new' ? 'missing' : 'out of date'}; run npm run schemas`);
    continue;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, formattedJson(next.schema));
  console.log(`schemas: wrote ${file} (${action})`);
}
if (args.check && changes.length > 0) process.exit(1);
console.log(`schemas: ${plans.length} schemas, ${changes.length} ${args.check ? 'to write' : 'written'}`);
