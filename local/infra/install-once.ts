import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lock } from 'proper-lockfile';

export interface InstallOnce {
  /** What `install` fills (the Kafka jars, the venv); its lock is `<dir>.install.lock` beside it. */
  dir: string;
  /** Holds the hash of `from` once `install` has succeeded. */
  stamp: string;
  /** What `install` installs from (a pom, a requirements file): once it changes, `install` runs again. */
  from: string;
  /** Called when another process is installing and this one waits for it. */
  onWait: () => void;
  install: () => Promise<void>;
}

/**
 * Runs `install` unless the stamp says it already ran for this hash, under a lock: of two processes that ask
 * at once (say `npm start` and a test run), one installs and the other, once it has the lock, finds the stamp.
 */
export async function installOnce({ dir, stamp, from, onWait, install }: InstallOnce): Promise<void> {
  const hash = createHash('sha256')
    .update(await readFile(from))
    .digest('hex');
  const isCurrent = async () => (await readFile(stamp, 'utf8').catch(() => undefined)) === hash;
  if (await isCurrent()) return;
  await mkdir(dirname(dir), { recursive: true });
  // proper-lockfile refreshes the lock while it is held: one whose owner died goes stale after 10 s.
  const options = { realpath: false, stale: 10_000, lockfilePath: `${dir}.install.lock` };
  const release = await lock(dir, options).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ELOCKED') throw error;
    onWait();
    // A first-run download may take minutes: wait up to 20.
    return lock(dir, { ...options, retries: { retries: 2_400, minTimeout: 500, maxTimeout: 500 } });
  });
  try {
    if (await isCurrent()) return;
    await install();
    await writeFile(stamp, hash);
  } finally {
    await release();
  }
}
