/**
 * `debug` as the Lambda bundles see it (aliased in ../esbuild-settings.ts): its Node.js implementation,
 * which @platformatic/kafka's loggers use (silent unless `DEBUG` names them). The package's index picks
 * Node.js or browser at run time, so esbuild bundles both; the browser one is dead weight on Lambda.
 * bundle-shims.test.ts checks this is the module the index picks under Node.js.
 */
// @ts-expect-error: debug ships without declarations (and @types/debug is not installed).
export { default } from '../../../node_modules/debug/src/node.js';
