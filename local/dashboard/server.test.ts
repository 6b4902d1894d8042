import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sseClients } from './server.ts';

/** A response whose connection takes `room` frames before write() says to wait for drain. */
class FakeResponse extends EventEmitter {
  written: string[] = [];
  destroyed = false;
  constructor(private room: number) {
    super();
  }
  write(frame: string): boolean {
    this.written.push(frame);
    this.room -= 1;
    return this.room > 0;
  }
  drain(room: number) {
    this.room = room;
    this.emit('drain');
  }
  destroy() {
    this.destroyed = true;
    this.emit('close');
  }
  end() {
    this.emit('close');
  }
}

const asResponse = (fake: FakeResponse) => fake as unknown as ServerResponse;

describe('server-sent event clients', () => {
  it('writes nothing more to a client that does not drain, then drops it', () => {
    const clients = sseClients({ maxClients: 5, maxMissedFrames: 3 });
    const stalled = new FakeResponse(2);
    const reading = new FakeResponse(Number.POSITIVE_INFINITY);
    clients.add(asResponse(stalled), 'first');
    clients.add(asResponse(reading), 'first');
    for (let i = 0; i < 10; i++) clients.broadcast(`frame ${i}`);
    // One frame past the point write() said to wait, then nothing: no unbounded buffer.
    expect(stalled.written).toEqual(['first', 'frame 0']);
    expect(stalled.destroyed).toBe(true);
    expect(reading.written).toHaveLength(11);
    expect(clients.size).toBe(1);
  });

  it('gives a client that drains in time the latest frame', () => {
    const clients = sseClients({ maxClients: 5, maxMissedFrames: 3 });
    const slow = new FakeResponse(1);
    clients.add(asResponse(slow), 'first');
    clients.broadcast('frame 1');
    clients.broadcast('frame 2');
    slow.drain(10);
    expect(slow.written).toEqual(['first', 'frame 2']);
    clients.broadcast('frame 3');
    expect(slow.written.at(-1)).toBe('frame 3');
    expect(slow.destroyed).toBe(false);
  });

  it('refuses a stream past the limit', () => {
    const clients = sseClients({ maxClients: 1, maxMissedFrames: 3 });
    expect(clients.add(asResponse(new FakeResponse(5)), 'first')).toBe(true);
    expect(clients.full).toBe(true);
    expect(clients.add(asResponse(new FakeResponse(5)), 'first')).toBe(false);
  });
});
