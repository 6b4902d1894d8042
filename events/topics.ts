import type { z } from 'zod';
import {
  DeadLettered,
  KpiRecorded,
  Notification,
  OrderCancelled,
  OrderConfirmed,
  OrderPickedAndPacked,
  OrderReceived,
} from './schemas/events.ts';

/**
 * The topic registry: each topic carries exactly one event type. The seed's six topics keep their
 * names exactly; `OrderCancelled` is the cancellation's.
 */
export const topicSchemas = {
  OrderReceived,
  OrderConfirmed,
  OrderPickedAndPacked,
  Notification,
  OrderCancelled,
  DeadLetterQueue: DeadLettered,
  KPIs: KpiRecorded,
} as const;

export type TopicName = keyof typeof topicSchemas;
export const topicNames = Object.keys(topicSchemas) as TopicName[];

/** The event carried by a topic, e.g. `EventOf<'OrderReceived'>`. */
export type EventOf<T extends TopicName> = z.infer<(typeof topicSchemas)[T]>;
export type AnyEvent = { [T in TopicName]: EventOf<T> }[TopicName];

export const isTopicName = (name: string): name is TopicName => Object.hasOwn(topicSchemas, name);
