import {
  DeadLettered,
  KpiRecorded,
  Notification,
  OrderCancelled,
  OrderConfirmed,
  OrderPickedAndPacked,
  OrderReceived,
} from './schemas/events.ts';
import { oneVersion, type ReadType, type WriteType } from './versions.ts';

/**
 * The topic registry: each topic carries exactly one event type, in the version its producers write and
 * the versions its consumers read (versions.ts). The seed's six topics keep their names exactly;
 * `OrderCancelled` is the cancellation's. During a breaking change a topic's entry becomes e.g.
 * `versionsOf(OrderReceived, [readVersion(OrderReceived, toV2), sameVersion(OrderReceivedV2)])`:
 * events/README.md, "Making a breaking change".
 */
export const topicVersions = {
  OrderReceived: oneVersion(OrderReceived),
  OrderConfirmed: oneVersion(OrderConfirmed),
  OrderPickedAndPacked: oneVersion(OrderPickedAndPacked),
  Notification: oneVersion(Notification),
  OrderCancelled: oneVersion(OrderCancelled),
  DeadLetterQueue: oneVersion(DeadLettered),
  KPIs: oneVersion(KpiRecorded),
} as const;

export type TopicName = keyof typeof topicVersions;
export const topicNames = Object.keys(topicVersions) as TopicName[];

/** The event consumers of a topic work with (what `decode` returns), e.g. `EventOf<'OrderReceived'>`. */
export type EventOf<T extends TopicName> = ReadType<(typeof topicVersions)[T]>;
/** The event producers of a topic write (what `newEvent` builds and `encode` takes): `EventOf` but mid-rollout. */
export type WrittenEventOf<T extends TopicName> = WriteType<(typeof topicVersions)[T]>;
export type AnyEvent = { [T in TopicName]: EventOf<T> }[TopicName];

export const isTopicName = (name: string): name is TopicName => Object.hasOwn(topicVersions, name);
