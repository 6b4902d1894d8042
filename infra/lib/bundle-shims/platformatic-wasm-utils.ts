/**
 * `@platformatic/wasm-utils` as the Lambda bundles see it (aliased in ../bundling.ts). @platformatic/kafka
 * takes CRC32C (record batch checksums) and the snappy/lz4 codecs from it; its entries embed or read a
 * 57 KB WebAssembly module compiled at import (76 KB of base64 in a bundle). The functions produce
 * uncompressed batches and never decompress (the event source mapping delivers records), so they need
 * only CRC32C: here in JavaScript (the Castagnoli table, as the package's own fallback computes it).
 */
const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** Takes what the package's callers pass: bytes, or a @platformatic/dynamic-buffer (its `buffer` is the bytes). */
export function crc32c(data: Uint8Array | { readonly buffer: Uint8Array }): number {
  const bytes = data instanceof Uint8Array ? data : data.buffer;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++)
    crc = (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const unavailable = (codec: string) => (): never => {
  throw new Error(
    `${codec} is not in the Lambda bundles (infra/lib/bundle-shims/platformatic-wasm-utils.ts): the functions produce uncompressed batches`,
  );
};

export const snappyCompress = unavailable('snappy compression');
export const snappyDecompress = unavailable('snappy decompression');
export const lz4Compress = unavailable('lz4 compression');
export const lz4Decompress = unavailable('lz4 decompression');
