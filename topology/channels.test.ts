import { describe, expect, it } from 'vitest';
import { channelEnvVar, localTopicName, manifest, publishedChannels } from './manifest.ts';
import type { Manifest } from './types.ts';
import { ManifestError, validateManifest } from './validate.ts';

const clone = (): Manifest => structuredClone(manifest) as unknown as Manifest;

function problemsOf(m: Manifest): string[] {
  try {
    validateManifest(m);
  } catch (error) {
    if (error instanceof ManifestError) return error.problems;
    throw error;
  }
  return [];
}

describe('the manifest channels', () => {
  it('declares the notifications topic, published to by the notification step only', () => {
    expect(manifest.channels).toEqual({ notifications: { kind: 'sns', displayName: 'Order pipeline' } });
    const publishers = (Object.keys(manifest.functions) as (keyof typeof manifest.functions)[]).filter(
      (fn) => publishedChannels(fn).length > 0,
    );
    expect(publishers).toEqual(['notification']);
    expect(publishedChannels('notification')).toEqual(['notifications']);
  });

  it('names the variable and the local topic after the channel', () => {
    expect(channelEnvVar('notifications')).toBe('NOTIFICATIONS_TOPIC_ARN');
    expect(localTopicName('notifications')).toBe('order-pipeline-notifications');
    expect(localTopicName('notifications', 'e2e-1')).toBe('e2e-1-notifications');
  });

  it('refuses a publisher of an unknown channel, a name that cannot become a variable, a bad display name', () => {
    const m = clone();
    (m.functions.notification as unknown as { publishes: string[] }).publishes = ['sms'];
    (m.channels as Record<string, unknown>).Bad_Name = { kind: 'sns', displayName: '' };
    expect(problemsOf(m)).toEqual([
      'channel "Bad_Name" must be 1..64 of a-z 0-9 - starting with a letter',
      'channel Bad_Name: displayName must be 1..100 characters',
      'function notification: publishes to unknown channel sms',
    ]);
  });
});
