/**
 * `npm run test:deployed`: the end-to-end checks against a deployed stack (every request SigV4-signed with
 * the caller's credentials, from the SDK's default provider chain), or against a local stack started with
 * `npm start -- --iam` (signed with the credentials that API checks). Exit 0 when every check passed, 1
 * when one failed (or the stack could not be read), 2 for bad arguments (tools/command-line.ts: the usage
 * and the reason on stderr; `--help` prints the usage on stdout). infra/README.md ("First deploy") shows a run.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { localRegion } from '../../local/runtime/lambda-context.ts';
import { localIamCredentials } from '../../local/runtime/sigv4-verifier.ts';
import {
  type CommandLine,
  type CommandOutput,
  flagsOf,
  readCommandLine,
  UsageError,
} from '../command-line.ts';
import { awsObservatory, readStack } from './aws.ts';
import { runChecks } from './checks.ts';
import { localObservatory } from './local.ts';
import { signedClient, unsignedClient } from './signed-client.ts';

export const USAGE = [
  'usage: npm run test:deployed -- --stack <stack name> [--region <region, default $AWS_REGION>]',
  '       npm run test:deployed -- --local <API url of npm start -- --iam, e.g. http://127.0.0.1:3000>',
  '                                [--dashboard <local dashboard url, default http://127.0.0.1:3001>]',
  '                                [--dynamodb <endpoint, default $DYNAMODB_ENDPOINT or http://127.0.0.1:8000>]',
  '                                [--table-prefix <npm start --table-prefix, default order-pipeline>]',
  '                                [--region <the local API region, default $AWS_REGION or us-east-1>]',
].join('\n');

const OPTIONS = flagsOf({ string: ['stack', 'region', 'local', 'dashboard', 'dynamodb', 'table-prefix'] });
const LOCAL_ONLY = ['dashboard', 'dynamodb', 'table-prefix'] as const;

/** The target the flags name; a `UsageError` (exit 2) says why they name none. */
export function targetOf(values: CommandLine<typeof OPTIONS, false>['values'], env: NodeJS.ProcessEnv) {
  if ((values.stack === undefined) === (values.local === undefined))
    throw new UsageError('name either a deployed stack (--stack <name>) or a local API (--local <url>)');
  if (values.stack !== undefined) {
    const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region) throw new UsageError("name the stack's region: --region <region> or AWS_REGION");
    const localOnly = LOCAL_ONLY.find((flag) => values[flag] !== undefined);
    if (localOnly) throw new UsageError(`--${localOnly} is for --local runs`);
    return { kind: 'aws' as const, stack: values.stack, region };
  }
  const urls = {
    local: values.local ?? '',
    dashboard: values.dashboard ?? 'http://127.0.0.1:3001',
    dynamodb: values.dynamodb ?? env.DYNAMODB_ENDPOINT ?? 'http://127.0.0.1:8000',
  };
  for (const [flag, url] of Object.entries(urls))
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new UsageError(`--${flag} must be an http(s) URL, got "${url}"`);
  return {
    kind: 'local' as const,
    apiUrl: urls.local,
    dashboardUrl: urls.dashboard,
    dynamodbEndpoint: urls.dynamodb,
    ...(values['table-prefix'] ? { tablePrefix: values['table-prefix'] } : {}),
    region: values.region ?? localRegion(),
  };
}

/** The API to check, the credentials that sign for it, and where the checks read the rest. */
async function targetContext(target: ReturnType<typeof targetOf>, env: NodeJS.ProcessEnv, io: CommandOutput) {
  if (target.kind === 'local') {
    io.log(
      `test:deployed against the local API ${target.apiUrl} (region ${target.region}), dashboard ${target.dashboardUrl}`,
    );
    const observatory = localObservatory(target);
    const timeouts = { orderMs: 60_000, metricsMs: 60_000 };
    return { apiUrl: target.apiUrl, credentials: localIamCredentials(env), observatory, timeouts };
  }
  const session = { region: target.region, credentials: defaultProvider() };
  const stack = await readStack(target.stack, session);
  io.log(`test:deployed against stack ${target.stack} (${target.region}): API ${stack.outputs.ApiUrl}`);
  return {
    apiUrl: stack.outputs.ApiUrl,
    credentials: session.credentials,
    observatory: awsObservatory(stack, session),
    // On AWS an order crosses five mappings, cold starts included; the metrics arrive a minute or more late.
    timeouts: { orderMs: 180_000, metricsMs: 420_000 },
  };
}

export async function run(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CommandOutput,
): Promise<number> {
  const command = readCommandLine(
    { usage: USAGE, options: OPTIONS, args: [...argv], prefix: 'test:deployed: ', out: io },
    ({ values }) => targetOf(values, env),
  );
  if (command.exitCode !== undefined) return command.exitCode;
  try {
    const { region } = command.settings;
    const { apiUrl, credentials, ...context } = await targetContext(command.settings, env, io);
    const api = signedClient({ baseUrl: apiUrl, region, credentials });
    const passed = await runChecks({
      api,
      unsigned: unsignedClient(apiUrl),
      ...context,
      out: (l) => io.log(l),
    });
    return passed ? 0 : 1;
  } catch (error) {
    io.error(`test:deployed: ${(error as Error).name}: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await run(process.argv.slice(2), process.env, console);
