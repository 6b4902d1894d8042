import type { z } from 'zod';
import {
  DeadLettered,
  KpiRecorded,
  Notification,
  OrderConfirmed,
  OrderPickedAndPacked,
  OrderReceived,
} from './schemas/events.ts';

/**
 * The topic registry: each of the seed's six topics carries exactly one event type.
 * Topic names are the seed's, exactly.
 */
export const topicSchemas = {
  OrderReceived,
  OrderConfirmed,
  OrderPickedAndPacked,
  Notification,
  DeadLetterQueue: DeadLettered,
  KPIs: KpiRecorded,
} as const;

export type TopicName = keyof typeof topicSchemas;
export const topicNames = Object.keys(topicSchemas) as TopicName[];

/** The event carried by a topic, e.g. `EventOf<'OrderReceived'>`. */
export type EventOf<T extends TopicName> = z.infer<(typeof topicSchemas)[T]>;
export type AnyEvent = { [T in TopicName]: EventOf<T> }[TopicName];

export const isTopicName = (name: string): name is TopicName => Object.hasOwn(topicSchemas, name);
