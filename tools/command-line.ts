/**
 * The prologue every command of the project shares (npm start, invoke, infra, samples, dlq:replay, openapi,
 * schemas, the benchmarks): read the flags with node:util's strict `parseArgs`, `--help`/`-h` prints the
 * usage and exits 0, a bad flag or value prints why and the usage and exits 2.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Bad arguments: the command prints the message and its usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
const help = { help: { type: 'boolean', short: 'h' } } as const;

/** Where a command prints: its usage for `--help` on `log`, a usage error on `error`. */
export type CommandOutput = Pick<Console, 'log' | 'error'>;

/**
 * A command's flags by kind, as `parseArgs` takes them: `flagsOf({ string: ['topic'], boolean: ['dry-run'] })`
 * is `{ topic: { type: 'string' }, 'dry-run': { type: 'boolean' } }`.
 */
export function flagsOf<const S extends string = never, const B extends string = never>(kinds: {
  string?: readonly S[];
  boolean?: readonly B[];
}): { [K in S]: { type: 'string' } } & { [K in B]: { type: 'boolean' } } {
  const entries = [
    ...(kinds.string ?? []).map((name) => [name, { type: 'string' }] as const),
    ...(kinds.boolean ?? []).map((name) => [name, { type: 'boolean' }] as const),
  ];
  return Object.fromEntries(entries) as { [K in S]: { type: 'string' } } & { [K in B]: { type: 'boolean' } };
}

/** A port number from a flag's text (0, "any free port", only where `allowZero`); a UsageError otherwise. */
export function portOf(flag: string, text: string, { allowZero = false } = {}): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65_535)
    throw new UsageError(`--${flag} must be a port number, got "${text}"`);
  return port;
}

/** The number a flag gives (`fallback` without it); a UsageError unless it is finite and above 0. */
export function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`--${flag} must be a positive number, got "${text}"`);
  return value;
}

/**
 * `usage` is printed on stdout for `--help`, on stderr after a usage error (prefixed with `prefix`, e.g.
 * `openapi: `). `args` defaults to `process.argv.slice(2)`, `out` to the console; positionals are refused
 * unless `allowPositionals`.
 */
export interface CommandSpec<O extends Options, P extends boolean> {
  usage: string;
  options: O;
  allowPositionals?: P;
  args?: readonly string[];
  prefix?: string;
  out?: CommandOutput;
}

export type CommandLine<O extends Options, P extends boolean> = ReturnType<
  typeof parseArgs<{ options: O & typeof help; allowPositionals: P; strict: true; tokens: false }>
>;

/**
 * The flags and positionals of `args` (strict: an unknown flag, a missing value or an unexpected argument
 * is refused; so is a flag given twice, unless it is `multiple`), with `values.help` for `--help`/`-h`.
 * Throws a `UsageError` saying what is wrong.
 */
export function parseFlags<O extends Options, P extends boolean = false>(
  spec: Pick<CommandSpec<O, P>, 'options' | 'allowPositionals' | 'args'>,
): CommandLine<O, P> {
  let parsed: ReturnType<typeof parseArgs<{ options: Options; tokens: true; allowPositionals: boolean }>>;
  try {
    parsed = parseArgs({
      args: [...(spec.args ?? process.argv.slice(2))],
      options: { ...spec.options, ...help },
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    // node:util's own errors (ERR_PARSE_ARGS_UNKNOWN_OPTION, …) are the caller's; anything else is a bug.
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    throw new UsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const flags = parsed.tokens.flatMap((token) => (token.kind === 'option' ? [token.name] : []));
  const twice = flags.find((name, i) => flags.indexOf(name) !== i && !spec.options[name]?.multiple);
  if (twice !== undefined) throw new UsageError(`--${twice} given twice`);
  const { values, positionals } = parsed;
  return { values, positionals } as CommandLine<O, P>;
}

/**
 * Reads the command line: `--help` prints `usage` (exit 0); a usage error from {@link parseFlags} or
 * thrown by `settingsOf` prints the reason and `usage` (exit 2). Else the settings: what `settingsOf`
 * makes of the values and positionals (by default, those themselves).
 */
export function readCommandLine<O extends Options, P extends boolean = false, T = CommandLine<O, P>>(
  spec: CommandSpec<O, P>,
  settingsOf: (line: CommandLine<O, P>) => T = (line) => line as T,
): { exitCode: 0 | 2 } | { exitCode?: undefined; settings: T } {
  const out = spec.out ?? console;
  try {
    const line = parseFlags(spec);
    if ((line.values as { help?: boolean }).help) {
      out.log(spec.usage);
      return { exitCode: 0 };
    }
    return { settings: settingsOf(line) };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.error(`${spec.prefix ?? ''}${error.message}\n${spec.usage}`);
    return { exitCode: 2 };
  }
}

/** JSON as `biome check` wants the file (the repository's lint covers generated files too). */
export function formattedJson(value: unknown): string {
  const biome = join(import.meta.dirname, '..', 'node_modules', '.bin', 'biome');
  return execFileSync(biome, ['format', '--stdin-file-path=generated.json'], {
    input: JSON.stringify(value, null, 2),
    encoding: 'utf8',
  });
}
