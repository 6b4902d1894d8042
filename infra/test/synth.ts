import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, type CfnElement, type Environment } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { ensurePythonTools } from '../../local/python/venv.ts';
import type { FunctionName } from '../../topology/manifest.ts';
import { buildApp } from '../bin/app.ts';
import { fromProjectRoot } from '../lib/bundling.ts';
import type { OrderPipelineStack } from '../lib/order-pipeline-stack.ts';

const run = promisify(execFile);

/** cdk.json's context (feature flags), so tests synthesize exactly what `cdk synth` does. */
const cdkJsonContext = (JSON.parse(readFileSync(fromProjectRoot('cdk.json'), 'utf8')) as { context: object })
  .context;

export interface Synthesized {
  app: App;
  stack: OrderPipelineStack;
  template: Template;
  outdir: string;
  cleanup(): void;
}

/**
 * Synthesizes the app as `cdk synth` would, into a temporary directory. Bundling (esbuild, one bundle
 * per function) is the slow part: synthesize once per test file and share the result.
 */
export function synthesize(
  options: { context?: Record<string, unknown>; env?: Environment; bundle?: boolean } = {},
): Synthesized {
  // Inside the project (in the ignored .local/), so that a bundle's external imports (the SDK clients the
  // Lambda runtime provides) resolve from node_modules when a test loads it.
  mkdirSync(fromProjectRoot('.local'), { recursive: true });
  const outdir = mkdtempSync(join(fromProjectRoot('.local'), 'cdk-test-'));
  const saved = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  if (options.env) {
    process.env.CDK_DEFAULT_ACCOUNT = options.env.account;
    process.env.CDK_DEFAULT_REGION = options.env.region;
  }
  try {
    const app = new App({
      outdir,
      context: {
        ...cdkJsonContext,
        ...options.context,
        // An empty list skips asset bundling (for variants whose code is the same as the main synth's).
        ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
      },
    });
    const { stack } = buildApp(app);
    const template = Template.fromStack(stack);
    return { app, stack, template, outdir, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
  } catch (error) {
    // A synth that throws (a test of a refused setting) leaves nothing behind.
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  } finally {
    process.env.CDK_DEFAULT_ACCOUNT = saved.account;
    process.env.CDK_DEFAULT_REGION = saved.region;
    if (saved.account === undefined) delete process.env.CDK_DEFAULT_ACCOUNT;
    if (saved.region === undefined) delete process.env.CDK_DEFAULT_REGION;
  }
}

/** A resource of a synthesized template, as the tests read it. */
export interface TemplateResource {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  DependsOn?: string[];
}

/** A statement of an IAM policy document (identity or resource policy). */
export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: unknown;
}

/** The synthesized template's resources, by logical id. */
export const templateResources = (synthesized: Synthesized): Record<string, TemplateResource> =>
  synthesized.template.toJSON().Resources as Record<string, TemplateResource>;

/** Every statement of the IAM policies (`AWS::IAM::Policy`) attached to the role `roleLogicalId`. */
export function roleStatements(
  resources: Record<string, TemplateResource>,
  roleLogicalId: string,
): PolicyStatement[] {
  const role = JSON.stringify({ Ref: roleLogicalId });
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((p) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === role))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement);
}

/** A CloudFormation value that may be one item or a list of them, as a list. */
export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * Lookups in the template a test file synthesized once, in its `beforeAll`: `synthesized` is read at each
 * call, so they can be taken apart at the top of the file.
 */
export function templateReader(synthesized: () => Synthesized) {
  const logicalId = (construct: IConstruct) =>
    synthesized().stack.getLogicalId((construct.node.defaultChild ?? construct) as CfnElement);
  const resources = () => templateResources(synthesized());
  return {
    resources,
    logicalId,
    /** The resource `construct` (or its default child) synthesized to. */
    resourceOf: (construct: IConstruct): TemplateResource => {
      const resource = resources()[logicalId(construct)];
      if (!resource) throw new Error(`no resource for ${construct.node.path}`);
      return resource;
    },
    /** The resources of `type`, as `[logical id, resource]`. */
    ofType: (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type),
    /** The function `name` of the manifest, with its role and mapping. */
    fnOf: (name: FunctionName) => {
      const found = synthesized().stack.functions.all.find((f) => f.name === name);
      if (!found) throw new Error(`no function ${name}`);
      return found;
    },
    /** Every statement of the IAM policies attached to the role `roleLogicalId`. */
    statementsOf: (roleLogicalId: string) => roleStatements(resources(), roleLogicalId),
  };
}

/** cdk-nag's AwsSolutions findings that are not acknowledged, as `rule: construct paths`. */
export function nagFindings(synthesized: Synthesized): string[] {
  const report = new AwsSolutionsChecks(synthesized.app).validateScope(synthesized.stack);
  return report.violations.map(
    (v) =>
      `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(', ')}`,
  );
}

export interface CfnLintResult {
  exitCode: number;
  output: string;
}

/**
 * Runs cfn-lint (from the project's Python venv) on the template. W3005 is ignored: CDK adds an explicit
 * DependsOn on a role next to the GetAtt of its ARN, which is redundant but harmless.
 */
export async function cfnLint(template: object, name: string): Promise<CfnLintResult> {
  const tools = await ensurePythonTools();
  const dir = mkdtempSync(join(tmpdir(), 'order-pipeline-cfn-lint-'));
  const file = join(dir, `${name}.template.json`);
  writeFileSync(file, JSON.stringify(template, null, 1));
  try {
    const { stdout } = await run(tools.bin('cfn-lint'), ['--ignore-checks', 'W3005', '--', file], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return { exitCode: 0, output: stdout };
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof code !== 'number') throw error;
    return { exitCode: code, output: `${stdout ?? ''}${stderr ?? ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Loads a bundle the way the Lambda runtime does (a fresh Node process importing `index.mjs`) and
 * answers the type of its `handler` export. Module initialisation runs; nothing is invoked.
 */
export async function loadBundle(bundleDir: string, env: Record<string, string>): Promise<string> {
  const script = `const m = await import(${JSON.stringify(join(bundleDir, 'index.mjs'))}); process.stdout.write(typeof m.handler);`;
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '--enable-source-maps', '-e', script],
    {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 60_000,
    },
  );
  return stdout;
}
