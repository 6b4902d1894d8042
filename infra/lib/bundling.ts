import { join, resolve } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { esbuildSettings } from './esbuild-settings.ts';

export const projectRoot = resolve(import.meta.dirname, '..', '..');
export const fromProjectRoot = (relative: string) => join(projectRoot, relative);

/** Node.js 24 (Lambda's newest Node runtime in the installed aws-cdk-lib), on Graviton. */
export const runtime = lambda.Runtime.NODEJS_24_X;
export const architecture = lambda.Architecture.ARM_64;

/**
 * esbuild bundling shared by every function, run with the locally installed esbuild (no Docker), and by
 * `npm run bench:coldstart` (bench/coldstart.ts maps these options to esbuild flags as NodejsFunction
 * does). ESM output, so a `require` shim is injected for the CommonJS dependencies bundled into it.
 *
 * SDK: the clients (`client-*`, `lib-dynamodb`, `util-dynamodb`) are the runtime's, which documents them
 * as part of Node.js runtimes: the functions call long-established DynamoDB and MSK operations, and
 * bundling them would add ~185 KB per function. Everything else is bundled at the lockfile's versions.
 *
 * Aliases (infra/lib/bundle-shims/, each file says why): the dependencies' heavy parts that the
 * functions never run, which esbuild cannot drop because the packages carry no `sideEffects` flag or are
 * CommonJS: @platformatic/kafka's schema registry (avsc, ajv), its option validators (ajv, only with
 * `strict: true`), WebAssembly codecs (CRC32C in JavaScript instead), structures other than its LRU
 * cache (mnemonist) and browser logger (debug); the signer's credential chain (environment credentials,
 * as Lambda provides them) and JavaScript SHA-256 (node:crypto instead); the X-Ray SDK's parts that
 * Powertools Tracer never calls (the AWS SDK v2 patcher with semver, the EC2/ECS/Beanstalk plugins).
 *
 * Source maps are written beside the bundle but not enabled at run time (see `functionDefaults`).
 */
export const bundling: BundlingOptions = {
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: esbuildSettings.target,
  mainFields: [...esbuildSettings.mainFields],
  minify: true,
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  sourcesContent: false,
  externalModules: [...esbuildSettings.externalModules],
  banner: esbuildSettings.banner,
  tsconfig: fromProjectRoot('tsconfig.json'),
  esbuildArgs: {
    ...Object.fromEntries(
      Object.entries(esbuildSettings.aliases).map(([from, to]) => [`--alias:${from}`, to]),
    ),
    // Licence notices of the bundled packages go to index.mjs.LEGAL.txt, beside the bundle.
    '--legal-comments': 'external',
  },
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
  // No NODE_OPTIONS=--enable-source-maps: Node would load the map at init and map every stack trace
  // (slow where errors are frequent). The map ships beside the bundle: set that variable on a function
  // to get TypeScript stack traces while investigating it.
  environment: {},
} as const;

export const defaultTimeout = Duration.seconds(30);
