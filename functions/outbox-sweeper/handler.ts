import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { METRICS_NAMESPACE } from '../../topology/runtime-env.ts';
import { tableName } from '../shared/config.ts';
import {
  dynamoDbDocumentClient,
  isConditionalCheckFailed,
  WRITE_CONFLICT_RETRY,
} from '../shared/dynamodb.ts';
import { produce } from '../shared/kafka/producer.ts';
import { retry } from '../shared/retry.ts';
import { tracer } from '../shared/tracing.ts';
import { readSweepConfig, type SweepPorts, type SweepSummary, sweep } from './logic.ts';

/** The DynamoDB side of the sweep: pages of the outbox index, and conditional updates. */
export function dynamoSweepPorts(client: DynamoDBDocumentClient, send: SweepPorts['produce']): SweepPorts {
  return {
    async query(params) {
      const answer = await client.send(new QueryCommand(params));
      return {
        items: answer.Items ?? [],
        scanned: answer.ScannedCount ?? answer.Count ?? 0,
        ...(answer.LastEvaluatedKey ? { lastKey: answer.LastEvaluatedKey } : {}),
      };
    },
    async update(params) {
      try {
        // A claim meeting a running transaction is sent again (the SDK does not retry a conflict).
        await retry(() => client.send(new UpdateCommand(params)), WRITE_CONFLICT_RETRY);
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },
    produce: send,
  };
}

// Named like the manifest's function (not a StepName: the sweeper re-produces order-api's event).
const SERVICE = 'outbox-sweeper';
const logger = new Logger({ serviceName: SERVICE });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE });

/** What an error is, for the logs: its name and code only (messages could quote a row's content). */
const errorName = (error: unknown) => (error instanceof Error ? error.name : typeof error);

/** A run that left rows to the next one (transient failures): reported as a failed invocation, after it. */
export class OutboxSweepIncomplete extends Error {
  override readonly name = 'OutboxSweepIncomplete';
}

/** One sweep of the outbox, on the schedule's tick (EventBridge on AWS, a timer locally). */
export async function sweepOutbox(now = new Date()): Promise<SweepSummary> {
  const config = readSweepConfig(process.env);
  const summary = await sweep(
    dynamoSweepPorts(dynamoDbDocumentClient(), produce),
    tableName('orders'),
    now,
    config,
    {
      // Order ids only: nothing of the order's content reaches the logs.
      reproduced: (orderId, attempt, topic) =>
        logger.warn(`${topic} re-produced for an order still waiting past the grace period`, {
          orderId,
          attempt,
          topic,
        }),
      abandoned: (orderId, reason) =>
        logger.error('outbox: gave up on an order, it needs an operator', { orderId, reason }),
      failed: (where, error) =>
        logger.warn('outbox: a row failed, left to the next run', { ...where, error: errorName(error) }),
    },
  );
  metrics.addMetric('OutboxReproduced', MetricUnit.Count, summary.reproduced);
  metrics.addMetric('OutboxAbandoned', MetricUnit.Count, summary.abandoned);
  metrics.addMetric('OutboxFailed', MetricUnit.Count, summary.failed);
  // A quiet sweep (the usual case, every minute) is a debug line; one that did something is info.
  const details = { ...summary, graceSeconds: config.graceMs / 1000 };
  const acted = summary.reproduced + summary.abandoned + summary.cleared + summary.skipped > 0;
  if (acted || summary.truncated) logger.info('outbox swept', details);
  else logger.debug('outbox swept', details);
  // Every other row was swept; the failed ones make the invocation fail (Lambda's Errors alarm).
  if (summary.failed > 0) {
    throw new OutboxSweepIncomplete(`outbox sweep left ${summary.failed} row(s) or shard(s) to the next run`);
  }
  return summary;
}

export const handler = middy(async (_event: ScheduledEvent) => sweepOutbox())
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));

export { closeProducer } from '../shared/kafka/producer.ts';
export { resetClients } from '../shared/lifecycle.ts';
