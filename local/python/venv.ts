import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { withFileLock } from '../infra/file-lock.ts';

const run = promisify(execFile);

export const projectRoot = resolve(import.meta.dirname, '..', '..');
const requirementsFile = join(import.meta.dirname, 'requirements.txt');

export interface PythonTools {
  venvDir: string;
  /** Absolute path of an executable installed in the venv, e.g. `bin('cfn-lint')`. */
  bin(name: string): string;
}

export class PythonToolsError extends Error {
  override readonly name = 'PythonToolsError';
}

/**
 * Creates (once) the project's Python venv under `.local/venv` and installs `requirements.txt` into it.
 * A stamp holding the hash of the requirements makes later calls instant; changing the file reinstalls.
 */
export async function ensurePythonTools(
  venvDir = process.env.ORDER_PIPELINE_VENV ?? join(projectRoot, '.local', 'venv'),
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<PythonTools> {
  const tools: PythonTools = { venvDir, bin: (name) => join(venvDir, 'bin', name) };
  const requirements = await readFile(requirementsFile, 'utf8');
  const wanted = createHash('sha256').update(requirements).digest('hex');
  const stamp = join(venvDir, '.requirements.sha256');
  const isCurrent = async () => existsSync(stamp) && (await readFile(stamp, 'utf8')) === wanted;
  if (await isCurrent()) return tools;

  // Tests and `npm start` may ask at the same time: one installs, the others wait for it.
  return withFileLock(
    `${venvDir}.lock`,
    async () => {
      if (await isCurrent()) return tools;
      const python = process.env.PYTHON ?? 'python3';
      try {
        await run(python, ['--version']);
      } catch {
        throw new PythonToolsError(
          `Python 3 was not found as "${python}". Install Python 3.9+ (e.g. apt-get install python3 python3-venv) or set PYTHON to its path.`,
        );
      }
      log(
        `[python] creating ${venvDir} and installing ${requirementsFile} from PyPI (first run only, about a minute)...`,
      );
      await rm(venvDir, { recursive: true, force: true });
      try {
        await run(python, ['-m', 'venv', venvDir]);
        await run(
          tools.bin('pip'),
          ['install', '--quiet', '--disable-pip-version-check', '-r', requirementsFile],
          {
            maxBuffer: 64 * 1024 * 1024,
            timeout: 15 * 60_000,
          },
        );
      } catch (error) {
        const { stderr, message } = error as { stderr?: string; message: string };
        throw new PythonToolsError(
          `could not install the Python tools (${requirementsFile}). Is PyPI reachable? pip said:\n${(stderr ?? message).trim().split('\n').slice(-15).join('\n')}`,
        );
      }
      await writeFile(stamp, wanted);
      log('[python] tools ready');
      return tools;
    },
    {
      onWait: (pid) =>
        log(`[python] waiting for another process (pid ${pid ?? '?'}) to finish installing ${venvDir}...`),
    },
  );
}
