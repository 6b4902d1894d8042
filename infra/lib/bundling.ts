import { join, resolve } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';

export const projectRoot = resolve(import.meta.dirname, '..', '..');
export const fromProjectRoot = (relative: string) => join(projectRoot, relative);

/** Node.js 24 (Lambda's newest Node runtime in the installed aws-cdk-lib), on Graviton. */
export const runtime = lambda.Runtime.NODEJS_24_X;
export const architecture = lambda.Architecture.ARM_64;

/**
 * esbuild bundling shared by every function, run with the locally installed esbuild (no Docker).
 * ESM output, so a `require` shim is injected for the CommonJS dependencies bundled into it. The SDK
 * clients are the runtime's; `@aws-sdk/credential-providers`, which the MSK IAM signer needs, is bundled
 * because Lambda does not document it as part of the runtime.
 */
export const bundling: BundlingOptions = {
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: 'node24',
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  sourcesContent: false,
  externalModules: ['@aws-sdk/client-*', '@aws-sdk/lib-*', '@aws-sdk/util-dynamodb'],
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  tsconfig: fromProjectRoot('tsconfig.json'),
  // @platformatic/kafka's CRC32C comes from @platformatic/wasm-utils, which reads `../dist/native.wasm`
  // next to its module at import time: in a bundle that path does not exist and the function dies at
  // init (ENOENT). Its `bundled` entry embeds the same wasm inline.
  esbuildArgs: { '--alias:@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
};

/** Settings every function of the stack shares (the pipeline's and the topics custom resource's). */
export const functionDefaults = {
  runtime,
  architecture,
  bundling,
  projectRoot,
  depsLockFilePath: fromProjectRoot('package-lock.json'),
  handler: 'handler',
  tracing: lambda.Tracing.ACTIVE,
  environment: {
    // Stack traces point at the TypeScript sources through the bundled source maps.
    NODE_OPTIONS: '--enable-source-maps',
  },
} as const;

export const defaultTimeout = Duration.seconds(30);
