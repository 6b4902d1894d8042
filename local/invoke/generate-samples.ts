/**
 * `npm run samples`: writes the sample events of `npm run invoke` to events/samples/ (one JSON file each,
 * see local/invoke/samples.ts) and deletes the files of samples that no longer exist.
 *
 *   npm run samples -- [--check]   # --check: write nothing, exit 1 when the files are stale
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCommandLine } from '../../tools/command-line.ts';
import { projectRoot } from '../python/venv.ts';
import { buildSamples, sampleText } from './samples.ts';

export const samplesDir = join(projectRoot, 'events', 'samples');

async function main(): Promise<number> {
  const command = readCommandLine(
    { usage: 'usage: npm run samples -- [--check]', options: { check: { type: 'boolean' } } },
    ({ values }) => values.check === true,
  );
  if (command.exitCode !== undefined) return command.exitCode;
  const check = command.settings;
  const wanted = new Map(
    Object.entries(buildSamples()).map(([name, event]) => [`${name}.json`, sampleText(event)]),
  );
  await mkdir(samplesDir, { recursive: true });
  const present = (await readdir(samplesDir)).filter((file) => file.endsWith('.json'));
  const extra = present.filter((file) => !wanted.has(file));
  const current = await Promise.all(
    [...wanted.keys()].map((file) => readFile(join(samplesDir, file), 'utf8').catch(() => '')),
  );
  const changed = [...wanted].filter(([, text], i) => current[i] !== text);
  const stale = [...extra, ...changed.map(([file]) => file)];
  if (check) {
    if (stale.length > 0)
      console.error(`stale samples in events/samples/: ${stale.join(', ')} (run npm run samples)`);
    return stale.length > 0 ? 1 : 0;
  }
  await Promise.all(extra.map((file) => rm(join(samplesDir, file))));
  await Promise.all(changed.map(([file, text]) => writeFile(join(samplesDir, file), text)));
  console.error(`[samples] ${wanted.size} sample(s) in events/samples/, ${stale.length} written or deleted`);
  return 0;
}

process.exitCode = await main();
