/**
 * `@aws-crypto/sha256-js` as the Lambda bundles see it (aliased in ../esbuild-settings.ts), for the MSK
 * IAM signer (aws-msk-iam-sasl-signer-js), which hands its `Sha256` to SignatureV4 for the request hash
 * and the HMAC signing key. The package computes SHA-256 in JavaScript, with tslib and @aws-crypto/util
 * (~12 KB in a bundle); Node.js has it in `node:crypto` (OpenSSL). Same interface, same bytes:
 * bundle-shims.test.ts compares digests and HMACs with the package's.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

type SourceData = string | ArrayBuffer | ArrayBufferView;

/** The bytes of `data`, as @aws-crypto/util's `convertToBuffer` reads them (strings as UTF-8). */
const bytesOf = (data: SourceData): Uint8Array => {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
};

/** A SHA-256 hash, or an HMAC-SHA256 when given a secret (a non-empty one, as the package decides). */
export class Sha256 {
  readonly #secret: SourceData | undefined;
  #hash: Hash | Hmac;
  #digest: Uint8Array | undefined;
  #error: unknown;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = this.#start();
  }

  update(data: SourceData): void {
    if (this.#error !== undefined) return;
    try {
      this.#hash.update(bytesOf(data));
    } catch (error) {
      this.#error = error;
    }
  }

  digestSync(): Uint8Array {
    if (this.#error !== undefined) throw this.#error;
    this.#digest ??= new Uint8Array(this.#hash.digest());
    return this.#digest;
  }

  async digest(): Promise<Uint8Array> {
    return this.digestSync();
  }

  reset(): void {
    this.#hash = this.#start();
    this.#digest = undefined;
    this.#error = undefined;
  }

  #start(): Hash | Hmac {
    const secret = this.#secret;
    const isSecret = typeof secret === 'string' ? secret.length > 0 : secret !== undefined;
    return isSecret ? createHmac('sha256', bytesOf(secret as SourceData)) : createHash('sha256');
  }
}
