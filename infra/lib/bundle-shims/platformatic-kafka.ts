/**
 * `@platformatic/kafka` as the Lambda bundles see it (aliased in ../bundling.ts): the names the bundled
 * code imports, from the package's own modules. Its index also re-exports the Confluent schema registry,
 * whose module imports avsc, ajv and ajv-draft-04 at top level (~220 KB, run at init); the package has
 * no `sideEffects` flag, so esbuild cannot drop it. A name missing here fails the build ("No matching
 * export"), never the function at run time: add it from the module the package's index takes it from.
 * The package is pinned exactly in package.json: a release may move these private files, which
 * platformatic-kafka-pin.test.ts checks.
 */
export {
  ConfigResourceTypes,
  IncrementalAlterConfigOperationTypes,
  SASLMechanisms,
} from '../../../node_modules/@platformatic/kafka/dist/apis/enumerations.js';
export { Admin } from '../../../node_modules/@platformatic/kafka/dist/clients/admin/admin.js';
export { compatibilityPartitioner } from '../../../node_modules/@platformatic/kafka/dist/clients/producer/partitioners.js';
export { Producer } from '../../../node_modules/@platformatic/kafka/dist/clients/producer/producer.js';
export { stringSerializer } from '../../../node_modules/@platformatic/kafka/dist/clients/serde.js';
