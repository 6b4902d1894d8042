/**
 * Fuzzes the local API against its own OpenAPI document: schemathesis (from the project's venv) reads
 * `<api>/openapi.json`, generates valid and invalid requests for every operation (a bounded number),
 * and fails on any 5xx or any answer that the document does not describe. order-api runs alone (no
 * consumers) against moto, with a table prefix of its own and the demo catalog seeded, so the
 * document's examples are accepted orders.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_ORDER_ID, type OpenApiDocument } from '../../functions/order-api/openapi.ts';
import { type CatalogEntry, catalog } from '../../functions/shared/catalog.ts';
import { ensurePythonTools, type PythonTools } from '../../local/python/venv.ts';
import { applyEnvironment } from '../../local/runtime/environment.ts';
import type { LocalRuntime } from '../../local/runtime/runtime.ts';
import { uniqueName } from '../support/kafka.ts';
import { prepareTestStack, startTestRuntime } from '../support/runtime.ts';

/** Generous for ~1 minute of fuzzing on 2 busy cores; schemathesis is killed past it. */
const FUZZ_TIMEOUT_MS = 150_000;

/**
 * The one-character SKUs, which are what the fuzzer's shortest valid bodies name: with them in the
 * catalog, generated orders get accepted too, and the links to GET and cancel them are followed.
 */
const fuzzCatalog: CatalogEntry[] = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'].map((sku) => ({
  sku,
  name: `Fuzz ${sku}`,
  unitPrice: 1,
  weightGrams: 100,
  initialStock: 1_000_000,
}));

/** Per operation and phase; OPENAPI_FUZZ_EXAMPLES raises it for a deeper run by hand. */
const MAX_EXAMPLES = Number(process.env.OPENAPI_FUZZ_EXAMPLES ?? 25);

const checks = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'missing_required_header',
  'use_after_free',
  'ensure_resource_availability',
  'ignored_auth',
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const runTool = (file: string, args: string[], cwd: string): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, timeout: FUZZ_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });

describe('the local API against its OpenAPI document (schemathesis)', () => {
  const tablePrefix = uniqueName('oas');
  let runtime: LocalRuntime;
  let api: string;
  let tools: PythonTools;
  let workDir: string;
  let restoreEnv: () => void;
  const answers = new Map<string, number>();

  beforeAll(async () => {
    tools = await ensurePythonTools();
    workDir = await mkdtemp(join(tmpdir(), 'openapi-fuzz-'));
    restoreEnv = applyEnvironment({ POWERTOOLS_LOG_LEVEL: 'ERROR' });
    await prepareTestStack({ tablePrefix, catalog: [...catalog, ...fuzzCatalog] });
    runtime = await startTestRuntime({
      tablePrefix,
      functions: ['order-api'],
      // Tallies the answers by route and status: the fuzzer must have reached the orders themselves.
      wrapInvoker: (_fn, invoke) => async (event) => {
        const outcome = await invoke(event);
        const { httpMethod, resource } = event as APIGatewayProxyEvent;
        const status = outcome.status === 'ok' ? (outcome.payload as APIGatewayProxyResult).statusCode : 502;
        const key = `${httpMethod} ${resource} ${status}`;
        answers.set(key, (answers.get(key) ?? 0) + 1);
        return outcome;
      },
    });
    api = runtime.apiUrl as string;
  });

  afterAll(async () => {
    await runtime?.stop();
    restoreEnv?.();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('serves an OpenAPI 3.1 document that lists this server first, whose example order is accepted', async () => {
    const response = await fetch(`${api}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as OpenApiDocument & { servers: { url: string }[] };
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers[0]?.url).toBe(api);
    // The id examples name this order: placed now, the fuzzer's examples read and cancel a real order.
    const example = (document.paths['/orders'] as { post: { requestBody: unknown } }).post.requestBody as {
      content: { 'application/json': { example: { orderId: string } } };
    };
    const body = example.content['application/json'].example;
    expect(body.orderId).toBe(EXAMPLE_ORDER_ID);
    const placed = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(placed.status).toBe(202);
  });

  it('is a valid OpenAPI 3.1 document, as docs/openapi.json is (openapi-spec-validator, from moto)', async () => {
    const served = join(workDir, 'served.json');
    await writeFile(served, await (await fetch(`${api}/openapi.json`)).text());
    for (const file of [served, join(import.meta.dirname, '..', '..', 'docs', 'openapi.json')]) {
      const run = await runTool(tools.bin('openapi-spec-validator'), [file], workDir);
      expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    }
  });

  it('finds no server error and no answer the document does not describe', async () => {
    const report = join(workDir, 'junit.xml');
    const run = await runTool(
      tools.bin('schemathesis'),
      [
        'run',
        `${api}/openapi.json`,
        '--url',
        api,
        '--checks',
        // All but three that do not apply: `positive_data_acceptance` (a valid body may name a SKU not in
        // the catalog, or a price with three decimals), `unsupported_method` (API Gateway answers 403, not
        // 405, to an undeclared method, and so does the emulator) and `allow_header_conformance` (same).
        process.env.OPENAPI_FUZZ_CHECKS ?? checks.join(','),
        '--phases',
        process.env.OPENAPI_FUZZ_PHASES ?? 'examples,coverage,fuzzing,stateful',
        '--max-examples',
        String(MAX_EXAMPLES),
        // One worker: with more, Python 3.11's ast.parse (Hypothesis describes its lambdas with it) is not
        // thread-safe and the run may fail with "AST constructor recursion depth mismatch".
        '--workers',
        '1',
        '--seed',
        String(Math.floor(Math.random() * 2 ** 31)),
        '--request-timeout',
        '15',
        '--report',
        'junit',
        '--report-junit-path',
        report,
        '--no-color',
        // Nothing kept between runs: each run explores afresh, and leaves nothing behind.
        '--generation-database',
        ':memory:',
      ],
      workDir,
    );
    // On failure the report says which operation, which request and which check.
    const summary = `${run.stdout.slice(-12_000)}\n${run.stderr.slice(-4_000)}`;
    expect(run.code, summary).toBe(0);
    // It did test every operation of the document (the report names each).
    const junit = await readFile(report, 'utf8');
    for (const operation of ['GET /health', 'POST /orders', 'GET /orders/{id}', 'POST /orders/{id}/cancel']) {
      expect(junit).toContain(operation);
    }
    // And reached the orders themselves, not only the validation in front of them.
    const reached = [...answers.keys()];
    for (const answer of [
      'GET /health 200',
      'POST /orders 202',
      'POST /orders 400',
      'GET /orders/{id} 200',
      'GET /orders/{id} 404',
      'POST /orders/{id}/cancel 202',
    ]) {
      expect(reached, summary).toContain(answer);
    }
  });
});
