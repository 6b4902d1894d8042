import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FileLockOptions {
  /** Give up after this long; the default covers a first-run download. */
  timeoutMs?: number;
  /** Called once when another process holds the lock, so the caller can say why it waits. */
  onWait?: (holderPid: number | undefined) => void;
}

/** True when a process with this id exists (signal 0 only checks). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` while holding an exclusive lock file, so that two processes (say `npm start` and a test
 * run) never install into the same directory at once. The file holds the owner's pid; a lock whose
 * owner died is taken over.
 */
export async function withFileLock<T>(
  lockFile: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const { timeoutMs = 20 * 60_000, onWait } = options;
  await mkdir(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await lockHolder(lockFile);
    if (holder === 'stale') {
      await rm(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for the lock ${lockFile} held by pid ${holder ?? 'unknown'}`);
    }
    if (!told) {
      told = true;
      onWait?.(holder);
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}

async function lockHolder(lockFile: string): Promise<number | undefined | 'stale'> {
  try {
    const pid = Number.parseInt(await readFile(lockFile, 'utf8'), 10);
    if (Number.isInteger(pid) && pid > 0) return isProcessAlive(pid) ? pid : 'stale';
    // Created but not written yet, unless it has been empty for a while (its writer died in between).
    const { mtimeMs } = await stat(lockFile);
    return Date.now() - mtimeMs > 10_000 ? 'stale' : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export interface InstallOnce extends Pick<FileLockOptions, 'onWait'> {
  /** Holds `hash` once `install` has succeeded. */
  stamp: string;
  /** The hash of what `install` installs from (a pom, a requirements file): a new hash installs again. */
  hash: string;
  lockFile: string;
  install: () => Promise<void>;
}

/**
 * Runs `install` unless the stamp says it already ran for this hash, under {@link withFileLock}: of two
 * processes that ask at once, one installs and the other, once it has the lock, finds the stamp.
 */
export async function installOnce({ stamp, hash, lockFile, install, onWait }: InstallOnce): Promise<void> {
  const isCurrent = async () => (await readFile(stamp, 'utf8').catch(() => undefined)) === hash;
  if (await isCurrent()) return;
  await withFileLock(
    lockFile,
    async () => {
      if (await isCurrent()) return;
      await install();
      await writeFile(stamp, hash);
    },
    { onWait },
  );
}
