/** How far a run's consumer groups are behind: what a chaos run waits on before it reads the effects back. */
import { kafkaConsumers } from '../../topology/topics.ts';
import {
  type BenchStack,
  benchGroupId,
  committedOffsets,
  endOffsets,
  lagOf,
  newAdmin,
  type Offsets,
} from './stack.ts';
import { consumerTopics } from './topics.ts';

/** Records not yet committed by this run's groups, over all consumed topics. */
export async function pipelineLag(stack: BenchStack, runId: string, start: Offsets): Promise<number> {
  const admin = newAdmin(stack.kafkaBrokers);
  try {
    const ends = await endOffsets(admin, consumerTopics());
    let lag = 0;
    for (const { name, trigger } of kafkaConsumers) {
      const committed = await committedOffsets(admin, benchGroupId(runId, name), [trigger.topic]);
      lag += lagOf(new Map([[trigger.topic, ends.get(trigger.topic) ?? new Map()]]), committed, start);
    }
    return lag;
  } finally {
    await admin.close();
  }
}
