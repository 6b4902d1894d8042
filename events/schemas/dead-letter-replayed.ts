import * as z from 'zod';
import { envelopeOf } from '../envelope.ts';

/** Where a Kafka record is (or was): its topic, partition and offset (decimal text: offsets are 64-bit). */
export const RecordCoordinates = z.object({
  topic: z.string().min(1),
  partition: z.int().nonnegative(),
  offset: z.string().regex(/^\d+$/),
});
export type RecordCoordinates = z.infer<typeof RecordCoordinates>;

/**
 * Written by `npm run dlq:replay` to `DeadLetterQueue`, in the same produce as the replayed record: names
 * the dead letter (its own coordinates) and the original record in it that went back to its topic. For
 * people and dashboards only: anyone who can produce to the topic can write one, so the tool never skips a
 * letter for it (its claims in DynamoDB decide, tools/dlq/ledger.ts). Not a dead letter: every reader of
 * the topic tells the two apart by `eventType`. Its `source` is the tool, not a pipeline step.
 */
export const DeadLetterReplayed = envelopeOf(
  'DeadLetterReplayed',
  z.object({
    letter: RecordCoordinates,
    original: RecordCoordinates,
    /** `source-topic`: the letter held only a prefix of the value, the full record was read back from its topic. */
    valueFrom: z.enum(['dead-letter', 'source-topic']),
  }),
).extend({ source: z.literal('dlq-replay') });
export type DeadLetterReplayed = z.infer<typeof DeadLetterReplayed>;
