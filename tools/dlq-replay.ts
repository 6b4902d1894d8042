/**
 * `npm run dlq:replay`: sends dead letters back to the topics they came from, through the consumers'
 * idempotency again (a record that did get processed has no second effect), each record at most once.
 *
 *   npm run dlq:replay -- [--dry-run] [--topic OrderReceived] [--reason poison|retries-exhausted]
 *                         [--function inventory] [--order <order id>] [--include-failed-replays]
 *                         [--timeout <seconds>] [--idle-timeout <seconds>]
 *
 * The cluster comes from the functions' environment contract (topology/runtime-env.ts): KAFKA_BROKERS
 * and/or MSK_CLUSTER_ARN (brokers resolved through the MSK API), KAFKA_AUTH, AWS_REGION; with neither
 * brokers nor a cluster, the local broker of `npm start` (127.0.0.1:9092). IAM (the default with a cluster
 * ARN) is TLS + SASL OAUTHBEARER signed for the region (functions/shared/kafka/connection.ts).
 * Each replay is claimed first in the idempotency table (tools/dlq/ledger.ts): TABLE_IDEMPOTENCY, at
 * DYNAMODB_ENDPOINT when set; with no cluster named either, the local ones (order-pipeline-idempotency on
 * 127.0.0.1:8000). Exit codes: 0 done, 1 Kafka or DynamoDB failed, 2 bad arguments, 3 timed out,
 * 130 interrupted (Ctrl-C).
 */
import { run } from './dlq/cli.ts';

// Ctrl-C stops between two letters, never between a claim, its replay and its completion; a second one
// stops at once (a claim left IN_PROGRESS is taken over by a later run once its lease is over).
const interrupt = new AbortController();
process.once('SIGINT', () => {
  console.error('dlq:replay: stopping after the current letter (Ctrl-C again to stop now)');
  interrupt.abort();
  process.once('SIGINT', () => process.exit(130));
});
process.exitCode = await run(process.argv.slice(2), process.env, console, interrupt.signal);
process.removeAllListeners('SIGINT');
