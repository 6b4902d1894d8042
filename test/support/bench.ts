/**
 * Runs a bench script (`npm run bench`, `npm run chaos`) as a child on the integration run's stack, for the
 * smoke tests that keep the bench from rotting.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../local/python/venv.ts';
import { RuntimeEnv } from '../../topology/runtime-env.ts';
import { testInfra } from './env.ts';

const run = promisify(execFile);
// tsx's CLI, not `node --import tsx`: only the CLI sets import.meta.main on Node 20, which runs main().
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

/**
 * Runs `script` with `args` and `--out` a file of its own, on the run's broker, DynamoDB and SNS (`env`
 * overrides them); answers its stdout and the JSON it wrote. A run that exits 1 after writing its JSON
 * (an order unfinished, an invariant broken) is not thrown: the test's assertions on the JSON say which.
 */
export async function runBenchScript<T>(
  script: 'bench/run.ts' | 'bench/chaos.ts',
  args: string[],
  options: { timeoutMs: number; env?: Record<string, string> },
): Promise<{ stdout: string; result: T }> {
  const { kafkaBrokers, dynamodbEndpoint, snsEndpoint } = testInfra();
  const dir = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
  const out = join(dir, 'result.json');
  try {
    const env = {
      ...process.env,
      [RuntimeEnv.kafkaBrokers]: kafkaBrokers.join(','),
      [RuntimeEnv.dynamodbEndpoint]: dynamodbEndpoint,
      [RuntimeEnv.snsEndpoint]: snsEndpoint,
      ...options.env,
    };
    const { stdout } = await run(process.execPath, [tsxCli, script, ...args, '--out', out], {
      cwd: projectRoot,
      env,
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: Error & { stdout?: string }) => {
      if (!error.stdout?.includes('written:')) throw error;
      return { stdout: error.stdout };
    });
    return { stdout, result: JSON.parse(await readFile(out, 'utf8')) as T };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What every chaos scenario keeps whatever its fault: nothing lost, told twice or never, reserved twice. */
export const chaosInvariants = {
  pass: true,
  lost: 0,
  duplicateNotifications: 0,
  missingNotifications: 0,
  doubleReservedUnits: 0,
  stockMismatches: 0,
  deadLettered: {},
};
