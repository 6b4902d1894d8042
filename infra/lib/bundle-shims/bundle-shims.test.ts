import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DynamicBuffer } from '@platformatic/dynamic-buffer';
import * as kafka from '@platformatic/kafka';
import * as wasm from '@platformatic/wasm-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ajv2020 } from './ajv-2020.ts';
import { fromIni, fromNodeProviderChain, fromTemporaryCredentials } from './aws-credential-providers.ts';
import { Sha256 } from './aws-crypto-sha256-js.ts';
import debugShim from './debug.ts';
import * as mnemonistShim from './mnemonist.ts';
import * as kafkaShim from './platformatic-kafka.ts';
import * as wasmShim from './platformatic-wasm-utils.ts';

describe('the @platformatic/kafka shim', () => {
  it('exports the very objects of the package index', () => {
    const shim: Record<string, unknown> = { ...kafkaShim };
    const index: Record<string, unknown> = { ...kafka };
    expect(Object.keys(shim).length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(shim)) expect(value, name).toBe(index[name]);
  });
});

describe('the @platformatic/wasm-utils shim', () => {
  it('computes CRC32C (Castagnoli): the check value of "123456789"', () => {
    expect(wasmShim.crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(wasmShim.crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('agrees with the WebAssembly implementation, on bytes and on dynamic buffers', () => {
    for (const size of [1, 7, 61, 1024, 4097]) {
      const bytes = randomBytes(size);
      expect(wasmShim.crc32c(bytes), `${size} bytes`).toBe(wasm.crc32c(bytes));
      const dynamic = new DynamicBuffer(bytes.subarray(0, 3)).append(bytes.subarray(3));
      expect(wasmShim.crc32c(dynamic), `${size} bytes, dynamic`).toBe(wasm.crc32c(bytes));
    }
  });

  it('refuses the codecs it leaves out, loudly', () => {
    expect(() => wasmShim.snappyCompress()).toThrow(/snappy compression is not in the Lambda bundles/);
    expect(() => wasmShim.lz4Decompress()).toThrow(/lz4 decompression is not in the Lambda bundles/);
  });
});

describe('the ajv shim', () => {
  it('compiles validators that fail when called instead of passing everything', () => {
    const ajv = new Ajv2020();
    expect(ajv.addKeyword()).toBe(ajv);
    expect(() => ajv.compile()()).toThrow(/strict: true/);
  });
});

describe('the @aws-sdk/credential-providers shim', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("answers the environment's credentials, as Lambda sets them", async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret');
    vi.stubEnv('AWS_SESSION_TOKEN', 'token');
    vi.stubEnv('AWS_CREDENTIAL_EXPIRATION', '2030-01-01T00:00:00Z');
    expect(await fromNodeProviderChain()()).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'token',
      expiration: new Date('2030-01-01T00:00:00Z'),
    });
  });

  it('fails without credentials in the environment, and for the providers it leaves out', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    await expect(fromNodeProviderChain()()).rejects.toThrow(/No AWS credentials in the environment/);
    expect(() => fromIni()).toThrow(/fromIni is not in the Lambda bundles/);
    expect(() => fromTemporaryCredentials()).toThrow(/fromTemporaryCredentials is not in the Lambda bundles/);
  });
});

/** Resolves `specifier` as the module at `from` (a file in node_modules) does. */
const requireFrom = (from: string) => createRequire(join(import.meta.dirname, '..', '..', '..', from));

describe('the mnemonist shim', () => {
  it("exports @platformatic/kafka's own LRUCache, the one its index exports", () => {
    const fromKafka = requireFrom('node_modules/@platformatic/kafka/dist/protocol/murmur2.js');
    expect(mnemonistShim.LRUCache).toBe(fromKafka('mnemonist').LRUCache);
  });
});

describe('the debug shim', () => {
  it('is the implementation the package index picks under Node.js', () => {
    const fromKafka = requireFrom('node_modules/@platformatic/kafka/dist/utils.js');
    expect(debugShim).toBe(fromKafka('debug'));
  });
});

describe('the @aws-crypto/sha256-js shim', () => {
  /** The package the MSK IAM signer would take (its own copy). */
  const JsSha256: typeof Sha256 = requireFrom(
    'node_modules/aws-msk-iam-sasl-signer-js/dist/getMSKAuthToken.js',
  )('@aws-crypto/sha256-js').Sha256;
  const digestOf = async (
    hash: { update(data: Uint8Array | string): void; digest(): Promise<Uint8Array> },
    parts: (Uint8Array | string)[],
  ) => {
    for (const part of parts) hash.update(part);
    return Buffer.from(await hash.digest()).toString('hex');
  };

  it('hashes as the package does: SHA-256, and HMAC-SHA256 with a secret (long ones too)', async () => {
    for (const size of [0, 1, 63, 64, 65, 1000]) {
      const parts = [randomBytes(size), 'é and ascii', new Uint8Array(randomBytes(7).buffer, 2, 3)];
      expect(await digestOf(new Sha256(), parts), `${size} bytes`).toBe(
        await digestOf(new JsSha256(), parts),
      );
      for (const secret of ['key', randomBytes(100), new Uint8Array(0)]) {
        expect(await digestOf(new Sha256(secret), parts), `${size} bytes, HMAC`).toBe(
          await digestOf(new JsSha256(secret), parts),
        );
      }
    }
    // An empty string is no secret for the package: a plain hash.
    expect(await digestOf(new Sha256(''), ['x'])).toBe(await digestOf(new JsSha256(''), ['x']));
  });

  it('answers the same digest again, and starts over after reset', async () => {
    const hash = new Sha256('key');
    hash.update('abc');
    const first = Buffer.from(hash.digestSync()).toString('hex');
    expect(Buffer.from(await hash.digest()).toString('hex')).toBe(first);
    hash.reset();
    hash.update('abc');
    expect(Buffer.from(hash.digestSync()).toString('hex')).toBe(first);
  });
});
