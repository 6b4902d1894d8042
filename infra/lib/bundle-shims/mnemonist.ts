/**
 * `mnemonist` as the Lambda bundles see it (aliased in ../esbuild-settings.ts). @platformatic/kafka takes
 * one structure from it, `LRUCache` (dist/protocol/murmur2.js, partition hashes); the package's index
 * loads every structure it has (heaps, vectors, suffix arrays: ~13 KB of CommonJS esbuild cannot drop).
 * A name missing here fails the build ("No matching export"). The file is @platformatic/kafka's own copy
 * (pinned with it); platformatic-kafka-pin.test.ts fails if a release moves it.
 */
export { default as LRUCache } from '../../../node_modules/@platformatic/kafka/node_modules/mnemonist/lru-cache.js';
