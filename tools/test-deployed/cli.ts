/**
 * `npm run test:deployed`: the end-to-end checks against a deployed stack (every request SigV4-signed with
 * the caller's credentials, from the SDK's default provider chain), or against a local stack started with
 * `npm start -- --iam` (signed with the credentials that API checks). Exit 0 when every check passed, 1
 * when one failed (or the stack could not be read), 2 for bad arguments (tools/command-line.ts: the usage
 * and the reason on stderr; `--help` prints the usage on stdout).
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { localIamCredentials } from '../../local/runtime/iam.ts';
import { localRegion } from '../../local/runtime/lambda-context.ts';
import { type CommandLine, flagsOf, readCommandLine, UsageError } from '../command-line.ts';
import { awsObservatory, readStackOutputs } from './aws.ts';
import type { CheckContext, CheckTimeouts } from './checks.ts';
import { localObservatory } from './local.ts';
import { runChecks } from './run.ts';
import { signedClient, unsignedClient } from './signed-client.ts';

export const USAGE = [
  'usage: npm run test:deployed -- --stack <stack name> [--region <region, default $AWS_REGION>]',
  '       npm run test:deployed -- --local <API url of npm start -- --iam, e.g. http://127.0.0.1:3000>',
  '                                [--dashboard <local dashboard url, default http://127.0.0.1:3001>]',
  '                                [--dynamodb <endpoint, default $DYNAMODB_ENDPOINT or http://127.0.0.1:8000>]',
  '                                [--table-prefix <npm start --table-prefix, default order-pipeline>]',
  '                                [--region <the local API region, default $AWS_REGION or us-east-1>]',
].join('\n');

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** On AWS an order crosses five mappings, cold starts included; the metrics arrive a minute or more late. */
const AWS_TIMEOUTS: CheckTimeouts = { orderMs: 180_000, metricsMs: 420_000 };
const LOCAL_TIMEOUTS: CheckTimeouts = { orderMs: 60_000, metricsMs: 60_000 };

type Target =
  | { kind: 'aws'; stack: string; region: string }
  | {
      kind: 'local';
      apiUrl: string;
      dashboardUrl: string;
      dynamodbEndpoint: string;
      tablePrefix?: string;
      region: string;
    };

const isHttpUrl = (text: string) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol);

const OPTIONS = flagsOf({ string: ['stack', 'region', 'local', 'dashboard', 'dynamodb', 'table-prefix'] });

type Values = CommandLine<typeof OPTIONS, false>['values'];

/** The target the flags name; a `UsageError` (exit 2) says why they name none. */
export function targetOf(values: Values, env: NodeJS.ProcessEnv): Target {
  if ((values.stack === undefined) === (values.local === undefined))
    throw new UsageError('name either a deployed stack (--stack <name>) or a local API (--local <url>)');
  if (values.stack !== undefined) {
    const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region) throw new UsageError("name the stack's region: --region <region> or AWS_REGION");
    const localOnly = (['dashboard', 'dynamodb', 'table-prefix'] as const).filter(
      (f) => values[f] !== undefined,
    );
    if (localOnly.length > 0) throw new UsageError(`--${localOnly[0]} is for --local runs`);
    return { kind: 'aws', stack: values.stack, region };
  }
  const apiUrl = values.local as string;
  const dashboardUrl = values.dashboard ?? 'http://127.0.0.1:3001';
  const dynamodbEndpoint = values.dynamodb ?? env.DYNAMODB_ENDPOINT ?? 'http://127.0.0.1:8000';
  for (const [flag, url] of [
    ['local', apiUrl],
    ['dashboard', dashboardUrl],
    ['dynamodb', dynamodbEndpoint],
  ])
    if (!isHttpUrl(url as string)) throw new UsageError(`--${flag} must be an http(s) URL, got "${url}"`);
  return {
    kind: 'local',
    apiUrl,
    dashboardUrl,
    dynamodbEndpoint,
    ...(values['table-prefix'] ? { tablePrefix: values['table-prefix'] } : {}),
    region: values.region ?? localRegion(),
  };
}

async function contextOf(target: Target, env: NodeJS.ProcessEnv, io: Io): Promise<CheckContext> {
  if (target.kind === 'local') {
    io.out(
      `test:deployed against the local API ${target.apiUrl} (region ${target.region}), dashboard ${target.dashboardUrl}`,
    );
    return {
      api: signedClient({
        baseUrl: target.apiUrl,
        region: target.region,
        credentials: localIamCredentials(env),
      }),
      unsigned: unsignedClient(target.apiUrl),
      observatory: localObservatory(target),
      timeouts: LOCAL_TIMEOUTS,
      out: io.out,
    };
  }
  const session = { region: target.region, credentials: defaultProvider() };
  const outputs = await readStackOutputs(target.stack, session);
  io.out(`test:deployed against stack ${target.stack} (${target.region}): API ${outputs.ApiUrl}`);
  return {
    api: signedClient({ baseUrl: outputs.ApiUrl, region: target.region, credentials: session.credentials }),
    unsigned: unsignedClient(outputs.ApiUrl),
    observatory: awsObservatory(target.stack, outputs, session),
    timeouts: AWS_TIMEOUTS,
    out: io.out,
  };
}

export async function run(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const command = readCommandLine(
    { usage: USAGE, options: OPTIONS, args: [...argv], prefix: 'test:deployed: ' },
    ({ values }) => targetOf(values, env),
  );
  if (command.exitCode !== undefined) return command.exitCode;
  try {
    const results = await runChecks(await contextOf(command.settings, env, io));
    return results.every((result) => result.ok) ? 0 : 1;
  } catch (error) {
    io.err(`test:deployed: ${(error as Error).name}: ${(error as Error).message}`);
    return 1;
  }
}
