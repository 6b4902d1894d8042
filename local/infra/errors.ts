import { stripVTControlCharacters } from 'node:util';

/** Which local service a failure is about. */
export type InfraService = 'kafka' | 'dynamodb' | 'sns' | 'java' | 'maven' | 'python';

export type InfraFailure =
  | 'java-missing'
  | 'maven-missing'
  | 'maven-failed'
  | 'port-in-use'
  | 'start-failed'
  | 'timeout'
  | 'provision-failed';

/**
 * A failure of the local infrastructure that a person can act on: the message says what happened
 * and what to do. The CLI prints it without a stack trace and exits non-zero.
 */
export class InfraError extends Error {
  override readonly name = 'InfraError';
  constructor(
    readonly service: InfraService,
    readonly failure: InfraFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The last `count` non-empty lines of `text`, for error messages that quote a tool's output. */
export function lastLines(text: string, count = 20): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-count)
    .join('\n');
}

/** The last lines of what a failed `execFile` printed (stdout, then stderr), or its message when it printed nothing. */
export function outputOf(error: unknown, count = 20): string {
  const {
    stdout = '',
    stderr = '',
    message,
  } = error as { stdout?: string; stderr?: string; message: string };
  return lastLines(stripVTControlCharacters(`${stdout}\n${stderr}`), count) || message;
}
