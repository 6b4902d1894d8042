import { describe, expect, it } from 'vitest';
import { run, targetOf, USAGE } from './cli.ts';

/** Runs the CLI with `argv`; the usage, the reasons and the checks go through `io`. */
async function exitOf(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const printed: string[] = [];
  const errors: string[] = [];
  const io = { log: (l: string) => printed.push(l), error: (l: string) => errors.push(l) };
  const code = await run(argv, env, io);
  return { code, out: printed.join('\n'), err: errors.join('\n') };
}

describe('npm run test:deployed arguments', () => {
  it.each([
    [[], 'name either a deployed stack'],
    [['--stack', 'S', '--local', 'http://127.0.0.1:3000'], 'name either a deployed stack'],
    [['--stack', 'S'], "name the stack's region"],
    [['--stack', 'S', '--region', 'eu-west-1', '--dashboard', 'http://x'], '--dashboard is for --local runs'],
    [['--local', 'localhost:3000'], '--local must be an http(s) URL'],
    [['--local', 'http://127.0.0.1:3000', '--dynamodb', 'nope'], '--dynamodb must be an http(s) URL'],
    [['--stack', 'S', '--bogus'], "Unknown option '--bogus'"],
    [['--stack'], "Option '--stack <value>' argument missing"],
    [['--stack', 'S', '--stack', 'T', '--region', 'eu-west-1'], '--stack given twice'],
  ])('%j exits 2 with the reason and the usage', async (argv, reason) => {
    const { code, err } = await exitOf(argv);
    expect(code).toBe(2);
    expect(err).toContain(`test:deployed: ${reason}`);
    expect(err).toContain(USAGE);
  });

  it('prints the usage for --help and exits 0', async () => {
    expect(await exitOf(['--help'])).toMatchObject({ code: 0, out: USAGE });
  });

  it('takes the region from AWS_REGION, and the local defaults of npm start', () => {
    expect(targetOf({ stack: 'OrderPipeline' }, { AWS_REGION: 'eu-west-1' })).toEqual({
      kind: 'aws',
      stack: 'OrderPipeline',
      region: 'eu-west-1',
    });
    expect(targetOf({ local: 'http://127.0.0.1:3000', region: 'us-east-1' }, {})).toEqual({
      kind: 'local',
      apiUrl: 'http://127.0.0.1:3000',
      dashboardUrl: 'http://127.0.0.1:3001',
      dynamodbEndpoint: 'http://127.0.0.1:8000',
      region: 'us-east-1',
    });
  });
});
