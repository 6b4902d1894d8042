import { randomBytes } from 'node:crypto';
import { DynamicBuffer } from '@platformatic/dynamic-buffer';
import * as kafka from '@platformatic/kafka';
import * as wasm from '@platformatic/wasm-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ajv2020 } from './ajv-2020.ts';
import { fromIni, fromNodeProviderChain, fromTemporaryCredentials } from './aws-credential-providers.ts';
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
