/**
 * A handler wrapper for tests and `npm run chaos -- --scenario crash-poison` (never bundled otherwise): a
 * Kafka record whose `chaos-crash` header says `exit`, `timeout` or `oom` makes the invocation that holds
 * it end its execution environment that way, inside the environment, before the real handler runs — as a
 * record that crashes its consumer would. Batches without one go to the real handler untouched.
 */
import type { MSKEvent } from 'aws-lambda';

export const CRASH_HEADER = 'chaos-crash';
export const CRASH_KINDS = ['exit', 'timeout', 'oom'] as const;
export type CrashKind = (typeof CRASH_KINDS)[number];

/** The crash a batch asks for (the first marked record's), if any. */
export function crashOf(event: unknown): CrashKind | undefined {
  const records = Object.values((event as Partial<MSKEvent>)?.records ?? {}).flat();
  return records
    .flatMap((record) =>
      (record.headers ?? []).map((header) => Buffer.from(header[CRASH_HEADER] ?? []).toString()),
    )
    .find((kind): kind is CrashKind => (CRASH_KINDS as readonly string[]).includes(kind));
}

async function crash(kind: CrashKind): Promise<never> {
  if (kind === 'exit') process.exit(1);
  if (kind === 'timeout') return new Promise<never>(() => setInterval(() => undefined, 60_000));
  const hoard: string[] = [];
  for (;;) hoard.push('x'.repeat(1 << 20) + hoard.length);
}

export function wrapHandler<E, R>(
  _functionName: string,
  handler: (event: E, context: unknown) => Promise<R>,
): (event: E, context: unknown) => Promise<R> {
  return async (event, context) => {
    const kind = crashOf(event);
    if (kind) await crash(kind);
    return handler(event, context);
  };
}
