/**
 * `npm run dlq:replay`: sends dead letters back to the topics they came from, through the consumers'
 * idempotency again, each record at most once (claimed first in the idempotency table, tools/dlq/ledger.ts).
 * Flags, environment and exit codes: tools/dlq/cli.ts; the design: README.md, "Processing guarantees".
 */
import { run } from './dlq/cli.ts';

// Ctrl-C stops between two letters, never between a claim, its replay and its completion; a second one
// stops at once (a claim left IN_PROGRESS is taken over by a later run once its lease is over).
const interrupt = new AbortController();
process.once('SIGINT', () => {
  console.error('dlq:replay: stopping after the current letter (Ctrl-C again to stop now)');
  interrupt.abort();
  process.once('SIGINT', () => process.exit(130));
});
process.exitCode = await run(process.argv.slice(2), process.env, console, interrupt.signal);
process.removeAllListeners('SIGINT');
