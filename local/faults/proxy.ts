/**
 * The fault layer: one HTTP proxy in front of the local DynamoDB endpoint and one in front of the local SNS
 * endpoint, in the runtime's process. The functions get the proxies' addresses as `DYNAMODB_ENDPOINT` and
 * `SNS_ENDPOINT`; each request is read whole, judged by the profile (./profile.ts), and then
 *
 * - answered with an AWS error before it reaches the endpoint (nothing happened),
 * - forwarded, carried out by the endpoint, and answered with a 500 or a closed connection instead of the
 *   endpoint's answer (`when: 'after'`: the write happened, the answer is lost — AWS's warning for 500s),
 * - delayed, or closed without an answer,
 * - or forwarded untouched: the same method, path, headers (in their order and case) and body bytes to the
 *   endpoint, and its status, headers and body bytes back.
 *
 * Why not Toxiproxy for the latency and the dropped connections: it works on TCP connections, and a fault
 * here is per request. The SDK keeps its connections alive and sends many requests on each, so Toxiproxy's
 * `toxicity` (drawn once per connection) would slow or cut every request of one connection rather than a
 * rate of requests; it cannot see the operation or the table (`X-Amz-Target`, the JSON body), so it could not
 * target them; and it cannot cut the connection of one chosen request after the endpoint has answered it. All
 * of that needs the HTTP request, which this proxy reads anyway to answer AWS's errors.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultCounters, FaultInjector, type FaultProfile } from './profile.ts';
import { parseRequest } from './request.ts';

export interface FaultLayerOptions {
  profile: FaultProfile;
  /** The real endpoints, e.g. `http://127.0.0.1:8000`. */
  dynamodbEndpoint: string;
  snsEndpoint: string;
  /** Listen address (default 127.0.0.1, free ports). */
  host?: string;
  /** The account of the ARNs in throttling reasons (default moto's, 123456789012). */
  account?: string;
  log?: (line: string) => void;
}

export interface FaultLayer {
  /** The proxies' addresses, to hand the functions. */
  dynamodbEndpoint: string;
  snsEndpoint: string;
  profile(): FaultProfile;
  /** Replaces the profile (and its draws and counters): chaos runs switch between scenarios. */
  setProfile(profile: FaultProfile): void;
  counters(): FaultCounters;
  resetCounters(): void;
  close(): Promise<void>;
}

interface Upstream {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forward(target: URL, agent: Agent, req: IncomingMessage, body: Buffer): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // The client's headers as it sent them (the Host it signed included).
        headers: req.rawHeaders,
        setHost: false,
        agent,
      },
      (response) => {
        readBody(response).then(
          (bytes) =>
            resolve({
              status: response.statusCode ?? 502,
              statusMessage: response.statusMessage ?? '',
              rawHeaders: response.rawHeaders,
              body: bytes,
            }),
          reject,
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function answer(
  res: ServerResponse,
  status: number,
  headers: Record<string, string> | string[],
  body: Buffer,
) {
  res.writeHead(status, headers);
  res.end(body);
}

/** Starts both proxies. */
export async function startFaultLayer(options: FaultLayerOptions): Promise<FaultLayer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  let injector = new FaultInjector(options.profile, {
    ...(options.account ? { account: options.account } : {}),
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });

  const handler = (target: URL) => (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const decision = injector.decide(parseRequest(req.headers, body));
      const { fault } = decision;
      if (decision.delayBeforeMs > 0) await sleep(decision.delayBeforeMs);
      if (fault?.when === 'before') {
        if (fault.action === 'drop') req.socket.destroy();
        else answer(res, fault.response.status, fault.response.headers, fault.response.body);
        return;
      }
      let upstream: Upstream;
      try {
        upstream = await forward(target, agent, req, body);
      } catch (error) {
        if (!fault) injector.upstreamFailed();
        log(`[faults] ${target.origin} unreachable: ${(error as Error).message}`);
        req.socket.destroy();
        return;
      }
      if (decision.delayAfterMs > 0) await sleep(decision.delayAfterMs);
      if (fault) {
        // After: the endpoint carried the request out; its answer is lost.
        if (fault.action === 'drop') req.socket.destroy();
        else answer(res, fault.response.status, fault.response.headers, fault.response.body);
        return;
      }
      res.writeHead(upstream.status, upstream.statusMessage, upstream.rawHeaders);
      res.end(upstream.body);
    })().catch((error: unknown) => {
      log(`[faults] proxy error: ${(error as Error).stack ?? error}`);
      req.socket.destroy();
    });
  };

  const listen = async (endpoint: string): Promise<{ server: Server; url: string }> => {
    const target = new URL(endpoint);
    if (target.protocol !== 'http:')
      throw new Error(`the fault layer proxies http endpoints only, not ${endpoint}`);
    const server = createServer(handler(target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return { server, url: `http://${host}:${port}` };
  };

  const dynamodb = await listen(options.dynamodbEndpoint);
  const sns = await listen(options.snsEndpoint).catch(async (error: unknown) => {
    dynamodb.server.close();
    throw error;
  });
  log(
    `[faults] profile "${options.profile.name}" (seed ${options.profile.seed}): DynamoDB ${dynamodb.url} → ${options.dynamodbEndpoint}, SNS ${sns.url} → ${options.snsEndpoint}`,
  );

  let closed: Promise<void> | undefined;
  return {
    dynamodbEndpoint: dynamodb.url,
    snsEndpoint: sns.url,
    profile: () => injector.profile,
    setProfile(profile) {
      injector = new FaultInjector(profile, { ...(options.account ? { account: options.account } : {}) });
    },
    counters: () => injector.counters(),
    resetCounters: () => injector.resetCounters(),
    close() {
      closed ??= (async () => {
        await Promise.all(
          [dynamodb.server, sns.server].map(
            (server) =>
              new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
              }),
          ),
        );
        agent.destroy();
      })();
      return closed;
    },
  };
}
