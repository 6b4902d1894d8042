import { join, resolve } from 'node:path';

/**
 * The esbuild settings of every function's bundle, as plain data: the CDK stack (./bundling.ts) and the
 * local runtime's execution environments (local/runtime/environments/bundle.ts) build the same bundle.
 * No CDK import here: the local runtime reads it without loading aws-cdk-lib.
 */
const root = resolve(import.meta.dirname, '..', '..');
const shim = (file: string) => join(root, `infra/lib/bundle-shims/${file}`);

export const esbuildSettings = {
  target: 'node24',
  format: 'esm',
  mainFields: ['module', 'main'],
  /** The SDK clients are the runtime's (documented as part of Node.js runtimes): not bundled. */
  externalModules: ['@aws-sdk/client-*', '@aws-sdk/lib-*', '@aws-sdk/util-dynamodb'],
  /** The ESM bundle needs `require` for the CommonJS dependencies bundled into it. */
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  /** The dependencies' heavy parts the functions never run (each shim says why). */
  aliases: {
    '@platformatic/kafka': shim('platformatic-kafka.ts'),
    '@platformatic/wasm-utils': shim('platformatic-wasm-utils.ts'),
    'ajv/dist/2020.js': shim('ajv-2020.ts'),
    '@aws-sdk/credential-providers': shim('aws-credential-providers.ts'),
    'aws-xray-sdk-core': shim('aws-xray-sdk-core.ts'),
    'cls-hooked/context': shim('cls-hooked-context.ts'),
    mnemonist: shim('mnemonist.ts'),
    debug: shim('debug.ts'),
    '@aws-crypto/sha256-js': shim('aws-crypto-sha256-js.ts'),
  },
} as const;
