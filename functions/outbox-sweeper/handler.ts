import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import { tableName } from '../shared/config.ts';
import { dynamoDbDocumentClient } from '../shared/dynamodb.ts';
import { produce } from '../shared/kafka/producer.ts';
import { tracer } from '../shared/tracing.ts';
import { dynamoSweepPorts } from './outbox-store.ts';
import { sweepOutbox } from './step.ts';

// Wiring only: the sweep is `step.ts`, its rules `logic.ts`, the orders table's side `outbox-store.ts`.
// Named like the manifest's function (not a StepName: the sweeper re-produces order-api's event).
const SERVICE = 'outbox-sweeper';
const logger = new Logger({ serviceName: SERVICE });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE });
const orders = () => ({
  ports: dynamoSweepPorts(dynamoDbDocumentClient(), produce),
  tableName: tableName('orders'),
});

/** The schedule's tick (EventBridge on AWS, a timer locally): one sweep. */
export const handler = middy(async (_event: ScheduledEvent) => sweepOutbox({ logger, metrics, orders }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
