/**
 * `npm run test:deployed` against a local stack in `--iam` mode: the whole pipeline on the integration
 * run's broker, DynamoDB and SNS (a table prefix of its own, the demo catalog seeded as on AWS), the API
 * checking SigV4 signatures against credentials of this file's own, and the local dashboard the checks
 * read their metrics and dead letters from. The CLI runs in-process with the credentials in its
 * environment, as a user's shell would hold them. The warehouse step is held a little (1.5 s), so that
 * the cancellation check catches its order reserved and not yet shipped on the first try.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedDashboard } from '../../local/dashboard/kpi-feed.ts';
import { type RunningDashboard, startDashboard } from '../../local/dashboard/server.ts';
import { type Invoker, localRegion } from '../../local/runtime/lambda-context.ts';
import { seedDemoInventory } from '../../local/runtime/seed.ts';
import { CHECKS } from '../../tools/test-deployed/checks.ts';
import { run } from '../../tools/test-deployed/cli.ts';
import { signedClient, unsignedClient } from '../../tools/test-deployed/signed-client.ts';
import type { FunctionName } from '../../topology/index.ts';
import { expectWrongSecretRefused } from '../support/api.ts';
import { testInfra } from '../support/env.ts';
import { type E2ePipeline, startE2ePipeline } from '../support/pipeline.ts';

const credentials = { accessKeyId: 'AKIDTESTDEPLOYED', secretAccessKey: 'test-deployed-secret' };
const WAREHOUSE_HOLD_MS = 1_500;

const holdWarehouse = (fn: FunctionName, invoke: Invoker): Invoker =>
  fn === 'warehouse'
    ? async (event) => {
        await sleep(WAREHOUSE_HOLD_MS);
        return invoke(event);
      }
    : invoke;

describe('npm run test:deployed against a local stack with IAM (SigV4) authorization', () => {
  const { kafkaBrokers, dynamodbEndpoint } = testInfra();
  const region = localRegion();
  let dashboard: RunningDashboard;
  let pipeline: E2ePipeline;

  beforeAll(async () => {
    dashboard = await startDashboard({ kafkaBrokers, port: 0, log: () => {} });
    pipeline = await startE2ePipeline('deployed', {
      runtime: {
        iam: { credentials, region },
        wrapInvoker: holdWarehouse,
        ...feedDashboard(dashboard.aggregator),
      },
    });
    await seedDemoInventory(dynamodbEndpoint, pipeline.tablePrefix);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await dashboard?.close();
  });

  it('refuses unsigned and wrongly signed order requests with 403, as API Gateway does', async () => {
    const unsigned = await unsignedClient(pipeline.api).request('GET', '/orders/ord-unknown');
    expect(unsigned.status).toBe(403);
    expect(unsigned.body).toEqual({ message: 'Missing Authentication Token' });
    await expectWrongSecretRefused(pipeline.api, { credentials, region }, 'GET', '/orders/ord-unknown');
    // The right key reaches the function: an unknown order is its 404, not the gateway's 403.
    const right = await signedClient({ baseUrl: pipeline.api, region, credentials }).request(
      'GET',
      '/orders/ord-unknown',
    );
    expect(right.status).toBe(404);
  });

  it('passes every check, each request signed with the credentials in its environment', async () => {
    const lines: string[] = [];
    const code = await run(
      [
        '--local',
        pipeline.api,
        '--dashboard',
        dashboard.url,
        '--dynamodb',
        dynamodbEndpoint,
        '--table-prefix',
        pipeline.tablePrefix,
        '--region',
        region,
      ],
      { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
      { log: (line) => lines.push(line), error: (line) => lines.push(line) },
    );
    const output = lines.join('\n');
    expect(output, output).not.toContain('FAIL');
    expect(lines.filter((line) => line.trim().startsWith('PASS'))).toHaveLength(CHECKS.length);
    expect(output).toContain(`${CHECKS.length} of ${CHECKS.length} checks passed`);
    expect(code).toBe(0);
  });
});
