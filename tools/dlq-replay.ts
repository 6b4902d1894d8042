/**
 * `npm run dlq:replay`: sends dead letters back to the topics they came from, through the consumers'
 * idempotency again (a record that did get processed has no second effect).
 *
 *   npm run dlq:replay -- [--dry-run] [--topic OrderReceived] [--reason poison|retries-exhausted]
 *                         [--function inventory] [--order <order id>]
 *
 * Brokers come from KAFKA_BROKERS (default 127.0.0.1:9092, the local broker of `npm start`); with
 * KAFKA_AUTH=iam the connection is TLS + SASL OAUTHBEARER signed for AWS_REGION (MSK IAM).
 * Exit codes: 0 done, 1 Kafka failed, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import type { SASLOptions } from '@platformatic/kafka';
import { parseBrokerList } from '../functions/shared/config.ts';
import type { ReplayFilter } from './dlq/dead-letter.ts';
import { replayDeadLetters } from './dlq/replay.ts';

const usage =
  'usage: npm run dlq:replay -- [--dry-run] [--topic <source topic>] [--reason poison|retries-exhausted] [--function <step>] [--order <order id>]';

class UsageError extends Error {}

function parseFilter(): { filter: ReplayFilter; dryRun: boolean } {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse().values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { reason } = values;
  if (reason !== undefined && reason !== 'poison' && reason !== 'retries-exhausted') {
    throw new UsageError(`--reason must be poison or retries-exhausted, got "${reason}"`);
  }
  return {
    dryRun: values['dry-run'] ?? false,
    filter: {
      ...(values.topic !== undefined ? { topic: values.topic } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(values.function !== undefined ? { failedIn: values.function } : {}),
      ...(values.order !== undefined ? { orderId: values.order } : {}),
    },
  };
}

function parse() {
  return parseArgs({
    options: {
      'dry-run': { type: 'boolean' },
      topic: { type: 'string' },
      reason: { type: 'string' },
      function: { type: 'string' },
      order: { type: 'string' },
    },
  });
}

async function sasl(): Promise<SASLOptions | undefined> {
  if (process.env.KAFKA_AUTH !== 'iam') return undefined;
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError('KAFKA_AUTH=iam needs AWS_REGION');
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  return { mechanism: 'OAUTHBEARER', token: async () => (await generateAuthToken({ region })).token };
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseFilter>;
  let auth: SASLOptions | undefined;
  try {
    options = parseFilter();
    auth = await sasl();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${usage}`);
    return 2;
  }
  const brokers = parseBrokerList(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092');
  try {
    const summary = await replayDeadLetters({
      brokers,
      ...(auth ? { sasl: auth } : {}),
      ...options,
      log: (line) => console.log(line),
    });
    console.log(
      `${options.dryRun ? 'dry run: ' : ''}${summary.scanned} dead letter(s) read, ${summary.matched} matched, ` +
        `${summary.replayed} replayed, ${summary.skipped} skipped, ${summary.unreadable} unreadable`,
    );
    return 0;
  } catch (error) {
    console.error(`dlq:replay failed against ${brokers.join(',')}: ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main();
