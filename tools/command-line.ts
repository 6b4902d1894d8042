/**
 * The prologue every command of the project shares (npm start, invoke, infra, samples, dlq:replay, openapi,
 * schemas, the benchmarks): read the flags with node:util's strict `parseArgs`, `--help`/`-h` prints the
 * usage and exits 0, a bad flag or value prints why and the usage and exits 2.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Bad arguments: the command prints the message and its usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit code of bad arguments, for every command. */
export const USAGE_EXIT_CODE = 2;

type Options = NonNullable<ParseArgsConfig['options']>;
const help = { help: { type: 'boolean', short: 'h' } } as const;

export interface CommandSpec<O extends Options, P extends boolean> {
  /** One line or more, printed on stdout for `--help` and on stderr after a usage error. */
  usage: string;
  options: O;
  /** Whether arguments without a flag are taken (default: no). */
  allowPositionals?: P;
  /** Default: `process.argv.slice(2)`. */
  args?: string[];
  /** Prefixed to an error message, e.g. `openapi: `. */
  prefix?: string;
}

export type CommandLine<O extends Options, P extends boolean> = ReturnType<
  typeof parseArgs<{ options: O & typeof help; allowPositionals: P; strict: true; tokens: false }>
>;

/** What to do instead of running (exit 0 after `--help`, 2 after bad arguments; both printed), or what to run with. */
export type Command<T> = { exitCode: 0 | 2 } | { exitCode?: undefined; settings: T };

/**
 * Reads the command line: `--help` prints `usage` (exit 0); an unknown flag, a missing value, a flag given
 * twice or a `UsageError` thrown by `settingsOf` prints the reason and `usage` on stderr (exit 2). Else the
 * settings: what `settingsOf` makes of the values and positionals (by default, those themselves).
 */
export function readCommandLine<O extends Options, P extends boolean = false, T = CommandLine<O, P>>(
  spec: CommandSpec<O, P>,
  settingsOf: (line: CommandLine<O, P>) => T = (line) => line as T,
): Command<T> {
  try {
    const { tokens, ...line } = parseArgs({
      args: spec.args ?? process.argv.slice(2),
      options: { ...spec.options, ...help },
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
      tokens: true,
    });
    const flags = tokens.flatMap((token) => (token.kind === 'option' ? [token.name] : []));
    const twice = flags.find((name, i) => flags.indexOf(name) !== i && !spec.options[name]?.multiple);
    if (twice !== undefined) throw new UsageError(`--${twice} given twice`);
    if ((line.values as { help?: boolean }).help) {
      console.log(spec.usage);
      return { exitCode: 0 };
    }
    return { settings: settingsOf(line as CommandLine<O, P>) };
  } catch (error) {
    // node:util's own errors (ERR_PARSE_ARGS_UNKNOWN_OPTION, …) are the caller's; anything else is a bug.
    const parseError = String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    return usageFailure(parseError ? new UsageError((error as Error).message) : error, spec);
  }
}

/** Prints a usage error with the usage (stderr) and gives its exit code; any other error is thrown again. */
export function usageFailure(error: unknown, spec: { usage: string; prefix?: string }): { exitCode: 2 } {
  if (!(error instanceof UsageError)) throw error;
  console.error(`${spec.prefix ?? ''}${error.message}\n${spec.usage}`);
  return { exitCode: USAGE_EXIT_CODE };
}
