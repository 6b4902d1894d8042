import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import xray from 'aws-xray-sdk-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esbuildArgsFor } from '../../../bench/coldstart.ts';
import { fromProjectRoot, projectRoot } from '../bundling.ts';
import shim, { leftOut } from './aws-xray-sdk-core.ts';

const run = promisify(execFile);

describe('the aws-xray-sdk-core shim', () => {
  it("exports the very objects of the package's index, but the members it leaves out", () => {
    const index: Record<string, unknown> = { ...xray };
    const rebuilt: Record<string, unknown> = { ...shim };
    expect(
      Object.keys(rebuilt).sort(),
      'a member the index gained or lost: add or leave it out here',
    ).toEqual(Object.keys(index).sort());
    for (const [name, value] of Object.entries(rebuilt)) {
      if ((leftOut as readonly string[]).includes(name)) continue;
      expect(value, name).toBe(index[name]);
    }
    expect(shim.middleware.IncomingRequestData).toBe(xray.middleware.IncomingRequestData);
  });

  it('fails loudly on the members it leaves out', () => {
    expect(shim.plugins).toEqual({});
    expect(shim.database).toEqual({});
    expect(() => shim.config()).toThrow(/config is not in the Lambda bundles/);
    expect(() => shim.captureAWS()).toThrow(/captureAWS is not in the Lambda bundles/);
    expect(() => shim.captureAWSClient()).toThrow(/captureAWSClient is not in the Lambda bundles/);
    expect(() => shim.capturePromise()).toThrow(/capturePromise is not in the Lambda bundles/);
  });
});

/**
 * tracing.ts bundled as the stack bundles it (the shim in place of the package), run as on Lambda: the
 * facade segment from `_X_AMZN_TRACE_ID`, Tracer on, and a UDP socket standing for the X-Ray daemon.
 * What reaches the daemon is the record's subsegment, in the invocation's trace, annotated orderId.
 */
describe('Tracer in a bundle, as on Lambda', () => {
  const traceId = '1-6759e988-0123456789abcdef01234567';
  const parentId = '53995c3f42cd8ad8';
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(fromProjectRoot('.local'), 'xray-bundle-test-'));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sends the record subsegment, annotated, to the daemon', async () => {
    const entry = join(dir, 'entry.ts');
    await writeFile(
      entry,
      `import { traceRecord, tracer } from ${JSON.stringify(fromProjectRoot('functions/shared/tracing.ts'))};
await traceRecord('warehouse', { orderId: 'ord-1', traceHeader: undefined, invokedAtMs: Date.now() }, async () => {
  // The subsegment is still the active one after an await and a timer (cls-hooked-context.ts carries it).
  await new Promise((resolve) => setTimeout(resolve, 5));
  const active = tracer.getSegment()?.name;
  if (active !== '## warehouse record') throw new Error('active segment after an await: ' + active);
});`,
    );
    await run(join(projectRoot, 'node_modules', '.bin', 'esbuild'), esbuildArgsFor(entry, dir), {
      cwd: projectRoot,
    });

    const daemon = createSocket('udp4');
    const received: string[] = [];
    daemon.on('message', (message) => received.push(message.toString('utf8')));
    await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
    try {
      const { port } = daemon.address() as AddressInfo;
      await run(process.execPath, [join(dir, 'index.mjs')], {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          LAMBDA_TASK_ROOT: dir,
          AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
          AWS_LAMBDA_FUNCTION_NAME: 'warehouse',
          POWERTOOLS_SERVICE_NAME: 'warehouse',
          AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}`,
          _X_AMZN_TRACE_ID: `Root=${traceId};Parent=${parentId};Sampled=1`,
        },
      });
      await expect.poll(() => received.length).toBeGreaterThan(0);
    } finally {
      daemon.close();
    }

    const documents = received.map((message) => JSON.parse(message.split('\n')[1] ?? 'null'));
    const record = documents.find((document) => document?.name === '## warehouse record');
    expect(record, JSON.stringify(documents)).toMatchObject({
      type: 'subsegment',
      trace_id: traceId,
      parent_id: parentId,
      annotations: { orderId: 'ord-1' },
    });
  });
});
