import { stopAllManaged } from './process.ts';

/**
 * What a long-running command (`npm start`, `npm run infra`) does on Ctrl-C or SIGTERM: `stop` its own work,
 * then every local service this process started (those still starting too, before the command holds
 * them), and exit 0. Ctrl-C reaches the process twice (the terminal signals the whole group, and tsx
 * relays it too): only a later, deliberate second one forces the exit (1).
 */
export function stopOnSignal(
  what: string,
  log: (line: string) => void,
  stop: () => Promise<void>,
): { readonly stopping: boolean } {
  let stopping: Promise<void> | undefined;
  let firstSignalAt = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (Date.now() - firstSignalAt < 2_000) return;
      log(`${signal} again: forcing exit`);
      void stopAllManaged().finally(() => process.exit(1));
      return;
    }
    firstSignalAt = Date.now();
    log(`\n${signal}: stopping ${what}...`);
    stopping = (async () => {
      await stop();
      await stopAllManaged();
      log('stopped.');
      process.exit(0);
    })();
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  return {
    get stopping() {
      return stopping !== undefined;
    },
  };
}
