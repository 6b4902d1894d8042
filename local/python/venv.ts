import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { InfraError, outputOf } from '../infra/errors.ts';
import { installOnce } from '../infra/install-once.ts';

const run = promisify(execFile);

export const projectRoot = resolve(import.meta.dirname, '..', '..');
const requirementsFile = join(import.meta.dirname, 'requirements.txt');

export interface PythonTools {
  venvDir: string;
  /** Absolute path of an executable installed in the venv, e.g. `bin('cfn-lint')`. */
  bin(name: string): string;
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
  const python = process.env.PYTHON ?? 'python3';
  await installOnce({
    dir: venvDir,
    stamp: join(venvDir, '.requirements.sha256'),
    from: requirementsFile,
    onWait: () => log(`[python] waiting for another process to finish installing ${venvDir}...`),
    install: async () => {
      await run(python, ['--version']).catch(() => {
        throw new InfraError(
          'python',
          `Python 3 was not found as "${python}". Install Python 3.9+ (e.g. apt-get install python3 python3-venv) or set PYTHON to its path.`,
        );
      });
      log(
        `[python] creating ${venvDir} and installing ${requirementsFile} from PyPI (first run only, about a minute)...`,
      );
      await rm(venvDir, { recursive: true, force: true });
      try {
        await run(python, ['-m', 'venv', venvDir]);
        const pip = ['install', '--quiet', '--disable-pip-version-check', '-r', requirementsFile];
        await run(tools.bin('pip'), pip, { maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 });
      } catch (error) {
        throw new InfraError(
          'python',
          `could not install the Python tools (${requirementsFile}). Is PyPI reachable? pip said:\n${outputOf(error, 15)}`,
        );
      }
      log('[python] tools ready');
    },
  });
  return tools;
}
