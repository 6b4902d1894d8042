import { afterEach, describe, expect, it, vi } from 'vitest';
import { flagsOf, parseFlags, portOf, readCommandLine, UsageError } from './command-line.ts';

const usage = 'usage: demo [--count <n>] [--check] [--tag <t>]... [name]';
const options = {
  count: { type: 'string' },
  check: { type: 'boolean' },
  tag: { type: 'string', multiple: true },
} as const;

describe('command line prologue', () => {
  const out = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  afterEach(() => vi.clearAllMocks());

  it('gives the values and positionals of good arguments', () => {
    const command = readCommandLine({
      usage,
      options,
      allowPositionals: true,
      args: ['--count', '3', '--check', '--tag', 'a', '--tag', 'b', 'x'],
    });
    expect(command).toEqual({
      settings: { values: { count: '3', check: true, tag: ['a', 'b'] }, positionals: ['x'] },
    });
    expect(err).not.toHaveBeenCalled();
  });

  it('gives what settingsOf makes of them', () => {
    const command = readCommandLine({ usage, options, args: ['--count', '3'] }, ({ values }) =>
      Number(values.count),
    );
    expect(command).toEqual({ settings: 3 });
  });

  it('prints the usage on stdout for --help and -h, exit 0', () => {
    for (const flag of ['--help', '-h']) {
      expect(readCommandLine({ usage, options, args: [flag] })).toEqual({ exitCode: 0 });
    }
    expect(out).toHaveBeenCalledTimes(2);
    expect(out).toHaveBeenCalledWith(usage);
  });

  it('answers an unknown flag, a missing value, an unexpected argument or a flag given twice with the reason and the usage, exit 2', () => {
    for (const args of [['--nope'], ['--count'], ['stray'], ['--count', '1', '--count', '2']]) {
      expect(readCommandLine({ usage, options, args, prefix: 'demo: ' })).toEqual({ exitCode: 2 });
    }
    expect(err).toHaveBeenCalledTimes(4);
    expect(err.mock.calls[0]?.[0]).toMatch(/^demo: .*--nope[\s\S]*\nusage: demo /);
    expect(err.mock.calls[3]?.[0]).toBe(`demo: --count given twice\n${usage}`);
    expect(out).not.toHaveBeenCalled();
  });

  it("turns settingsOf's UsageError into exit 2 and lets any other error through", () => {
    const positive = ({ values }: { values: { count?: string } }) => {
      if (Number(values.count) <= 0) throw new UsageError('--count must be positive');
      return Number(values.count);
    };
    expect(readCommandLine({ usage, options, args: ['--count', '0'] }, positive)).toEqual({ exitCode: 2 });
    expect(err).toHaveBeenCalledWith(`--count must be positive\n${usage}`);
    const broken = () => {
      throw new TypeError('a bug');
    };
    expect(() => readCommandLine({ usage, options, args: [] }, broken)).toThrow('a bug');
  });

  it('prints where it is told to', () => {
    const lines: string[] = [];
    const out = {
      log: (l: string) => lines.push(`log ${l}`),
      error: (l: string) => lines.push(`error ${l}`),
    };
    expect(readCommandLine({ usage, options, args: ['-h'], out })).toEqual({ exitCode: 0 });
    expect(readCommandLine({ usage, options, args: ['--x'], out, prefix: 'demo: ' })).toEqual({
      exitCode: 2,
    });
    expect(lines).toEqual([`log ${usage}`, `error demo: Unknown option '--x'\n${usage}`]);
  });

  it('parseFlags throws the UsageError itself, the first line of what node:util says', () => {
    expect(() => parseFlags({ options, args: ['--x'] })).toThrow(UsageError);
    expect(() => parseFlags({ options, args: ['--x'] })).toThrow(/^Unknown option '--x'$/);
    expect(parseFlags({ options, args: ['-h'] }).values).toEqual({ help: true });
  });

  it('flagsOf declares flags by kind, as parseArgs takes them', () => {
    const flags = flagsOf({ string: ['count', 'tag'], boolean: ['check'] });
    expect(flags).toEqual({ count: { type: 'string' }, tag: { type: 'string' }, check: { type: 'boolean' } });
    expect(parseFlags({ options: flags, args: ['--count', '3', '--check'] }).values).toEqual({
      count: '3',
      check: true,
    });
  });

  it('portOf takes 1 to 65535 (0 only where allowed) and refuses anything else with the flag named', () => {
    expect(portOf('port', '8080')).toBe(8080);
    expect(portOf('port', '0', { allowZero: true })).toBe(0);
    for (const text of ['0', '65536', '-1', '80.5', 'http', ''])
      expect(() => portOf('sns-port', text)).toThrow(
        new UsageError(`--sns-port must be a port number, got "${text}"`),
      );
  });
});
