/**
 * `aws-xray-sdk-core` as the Lambda bundles see it (aliased in ../esbuild-settings.ts): the package's
 * index (dist/lib/aws-xray.js) rebuilt from its own modules, minus the parts Powertools Tracer and the
 * functions never call. The index is CommonJS and requires every module at load, so esbuild keeps them
 * all: the AWS SDK v2 patcher (`captureAWS`, `captureAWSClient`) alone brings semver (~30 KB), and the
 * EC2/ECS/Elastic Beanstalk plugins (and `config`, which sets them), `capturePromise` and `SqlData` are
 * for other hosts and drivers.
 * Everything else is the very object the package exports (bundle-shims.test.ts checks it member by
 * member against the installed package), and the load does what the index's does: the SDK and service
 * data of every segment, and on Lambda (`LAMBDA_TASK_ROOT`) the facade segment. The left-out functions
 * throw. shim-internals.test.ts fails when a release moves the modules imported here, and
 * aws-xray-sdk-core.test.ts runs Tracer bundled with this shim as on Lambda, against a stand-in daemon.
 */
import {
  captureAsyncFunc,
  captureCallbackFunc,
  captureFunc,
} from '../../../node_modules/aws-xray-sdk-core/dist/lib/capture.js';
import contextUtils from '../../../node_modules/aws-xray-sdk-core/dist/lib/context_utils.js';
import { setDaemonAddress } from '../../../node_modules/aws-xray-sdk-core/dist/lib/daemon_config.js';
// @ts-expect-error: the package ships this module without a declaration (its `init` takes no argument).
import lambdaEnvironment from '../../../node_modules/aws-xray-sdk-core/dist/lib/env/aws_lambda.js';
import logging from '../../../node_modules/aws-xray-sdk-core/dist/lib/logger.js';
import IncomingRequestData from '../../../node_modules/aws-xray-sdk-core/dist/lib/middleware/incoming_request_data.js';
import middleware from '../../../node_modules/aws-xray-sdk-core/dist/lib/middleware/mw_utils.js';
import { captureAWSClient as captureAWSv3Client } from '../../../node_modules/aws-xray-sdk-core/dist/lib/patchers/aws3_p.js';
import {
  captureHTTPs,
  captureHTTPsGlobal,
} from '../../../node_modules/aws-xray-sdk-core/dist/lib/patchers/http_p.js';
import Aws from '../../../node_modules/aws-xray-sdk-core/dist/lib/segments/attributes/aws.js';
import Subsegment from '../../../node_modules/aws-xray-sdk-core/dist/lib/segments/attributes/subsegment.js';
import Segment from '../../../node_modules/aws-xray-sdk-core/dist/lib/segments/segment.js';
import segmentUtils from '../../../node_modules/aws-xray-sdk-core/dist/lib/segments/segment_utils.js';
import utils from '../../../node_modules/aws-xray-sdk-core/dist/lib/utils.js';
import awsXrayPackage from '../../../node_modules/aws-xray-sdk-core/package.json' with { type: 'json' };

/** The index's members this bundle leaves out: functions that throw, or empty namespaces. */
export const leftOut = [
  'config',
  'captureAWS',
  'captureAWSClient',
  'capturePromise',
  'plugins',
  'database',
] as const;

const unavailable = (name: string) => () => {
  throw new Error(
    `aws-xray-sdk-core's ${name} is not in the Lambda bundles (infra/lib/bundle-shims/aws-xray-sdk-core.ts says why)`,
  );
};

const UNKNOWN = 'unknown';

const AWSXRay = {
  /** Empty: the EC2/ECS/Elastic Beanstalk plugins and `SqlData` are for other hosts and drivers. */
  plugins: Object.freeze({}),
  database: Object.freeze({}),
  config: unavailable('config'),
  setAWSWhitelist: Aws.setAWSWhitelist,
  appendAWSWhitelist: Aws.appendAWSWhitelist,
  setStreamingThreshold: segmentUtils.setStreamingThreshold,
  setLogger: logging.setLogger,
  getLogger: logging.getLogger,
  setDaemonAddress,
  captureFunc,
  captureAsyncFunc,
  captureCallbackFunc,
  captureAWS: unavailable('captureAWS'),
  captureAWSClient: unavailable('captureAWSClient'),
  captureAWSv3Client,
  captureHTTPs,
  captureHTTPsGlobal,
  capturePromise: unavailable('capturePromise'),
  utils,
  middleware,
  getNamespace: contextUtils.getNamespace,
  resolveSegment: contextUtils.resolveSegment,
  resolveManualSegmentParams: contextUtils.resolveManualSegmentParams,
  getSegment: contextUtils.getSegment,
  setSegment: contextUtils.setSegment,
  isAutomaticMode: contextUtils.isAutomaticMode,
  enableAutomaticMode: contextUtils.enableAutomaticMode,
  enableManualMode: contextUtils.enableManualMode,
  setContextMissingStrategy: contextUtils.setContextMissingStrategy,
  Segment,
  Subsegment,
  SegmentUtils: segmentUtils,
};

// What the index does at load (after building its object, as there).
Object.assign(middleware, { IncomingRequestData });
segmentUtils.setSDKData({
  sdk: 'X-Ray for Node.js',
  sdk_version: awsXrayPackage.version ?? UNKNOWN,
  package: awsXrayPackage.name ?? UNKNOWN,
});
segmentUtils.setServiceData({
  runtime: process.release?.name ?? UNKNOWN,
  runtime_version: process.version,
  version: process.env.npm_package_version || UNKNOWN,
  name: process.env.npm_package_name || UNKNOWN,
});
if (process.env.LAMBDA_TASK_ROOT) (lambdaEnvironment as { init: () => void }).init();

export default AWSXRay;
