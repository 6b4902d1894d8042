import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChildConfig, startChild } from './protocol.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('startChild', () => {
  it('rejects a child that failed to start with its reason and the log file to read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-child-'));
    dirs.push(dir);
    const logFile = join(dir, 'child.log');
    // A fault profile the child refuses before it connects to anything: no broker is needed.
    const config: ChildConfig = {
      mode: 'pipeline',
      runId: 'start-failure',
      kafkaBrokers: ['127.0.0.1:9'],
      dynamodbEndpoint: 'http://127.0.0.1:9',
      snsEndpoint: 'http://127.0.0.1:9',
      tablePrefix: 'start-failure',
      apiPort: 0,
      faults: { name: 'broken', rules: [{ service: 'dynamodb', rate: 2, fault: { kind: 'drop' } }] },
    };
    const start = startChild({ config, onCompleted: () => undefined, logFile });
    await expect(start).rejects.toThrow(
      /^the runtime child failed to start: .*rate[\s\S]*; see .*child\.log$/,
    );
    // The log file the message names exists (the child's output goes there).
    expect(() => readFileSync(logFile)).not.toThrow();
  });
});
