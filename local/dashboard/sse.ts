import type { ServerResponse } from 'node:http';

export interface SseLimits {
  /** Streams open at once; one more is refused (429). */
  maxClients: number;
  /** Frames a client may miss while its connection does not drain; past that it is dropped. */
  maxMissedFrames: number;
}

/** 40 frames: ten seconds at the dashboard's pace of a frame per 250 ms. */
export const DEFAULT_SSE_LIMITS: SseLimits = { maxClients: 32, maxMissedFrames: 40 };

/**
 * The dashboard's server-sent event streams, with back-pressure: a frame is written to a client only
 * while its connection drains, so what waits in memory for it is at most one frame; a client that stops
 * reading is dropped after {@link SseLimits.maxMissedFrames}. Frames are whole snapshots, so a client that
 * drains in time gets the latest one and has lost nothing. Without this, every frame for a client that
 * never reads stays buffered in the process, for ever.
 */
export class SseClients {
  /** Per client, the frames it missed since write() returned false; undefined while its connection drains. */
  private readonly clients = new Map<ServerResponse, { missed?: number }>();
  private latest = '';

  constructor(
    private readonly limits: SseLimits = DEFAULT_SSE_LIMITS,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** True when one more stream would be too many. */
  get full(): boolean {
    return this.clients.size >= this.limits.maxClients;
  }

  /** Opens a stream with its first frame; false (nothing written) when too many are open already. */
  add(response: ServerResponse, first: string): boolean {
    if (this.full) return false;
    const client: { missed?: number } = {};
    this.clients.set(response, client);
    response.on('close', () => this.clients.delete(response));
    response.on('drain', () => {
      const missed = client.missed;
      client.missed = undefined;
      // The client caught up: the latest snapshot, if it missed any.
      if (missed) this.write(response, client, this.latest);
    });
    this.write(response, client, first);
    return true;
  }

  /** Sends a frame to every client that drains; drops those that have not drained for too long. */
  broadcast(frame: string): void {
    this.latest = frame;
    for (const [response, client] of this.clients) {
      if (client.missed === undefined) this.write(response, client, frame);
      else if (++client.missed > this.limits.maxMissedFrames) {
        this.clients.delete(response);
        response.destroy();
        this.log('[dashboard] dropped an event stream client: it does not read its stream');
      }
    }
  }

  closeAll(): void {
    for (const response of this.clients.keys()) response.end();
    this.clients.clear();
  }

  private write(response: ServerResponse, client: { missed?: number }, frame: string): void {
    if (!response.write(frame)) client.missed = 0;
  }
}
