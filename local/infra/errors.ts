import { stripVTControlCharacters } from 'node:util';

/** Which local service a failure is about. */
export type InfraService = 'kafka' | 'dynamodb' | 'sns' | 'java' | 'maven' | 'python';

/**
 * A failure of the local infrastructure that a person can act on: the message says what happened and what
 * to do. The CLIs print it without a stack trace and exit non-zero.
 */
export class InfraError extends Error {
  override readonly name = 'InfraError';
  constructor(
    readonly service: InfraService,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The last lines of what a failed `execFile` printed (stdout, then stderr), or its message when it printed nothing. */
export function outputOf(error: unknown, count = 20): string {
  const {
    stdout = '',
    stderr = '',
    message,
  } = error as { stdout?: string; stderr?: string; message: string };
  const lines = stripVTControlCharacters(`${stdout}\n${stderr}`)
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(Boolean);
  return lines.slice(-count).join('\n') || message;
}
