/**
 * The fault layer: one HTTP proxy in front of the local DynamoDB endpoint and one in front of the local SNS
 * endpoint, in the runtime's process. Each request is read whole, judged by the profile (./profile.ts), and
 * answered with its fault (before or after forwarding it), delayed, or forwarded untouched (the same bytes
 * both ways). What the functions see, and why not Toxiproxy: local/README.md, "Injected AWS errors".
 */
import { once } from 'node:events';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultDecision, FaultInjector, type FaultProfile } from './profile.ts';
import { parseRequest } from './request.ts';

export type FaultLayer = Awaited<ReturnType<typeof startFaultLayer>>;

/** The request sent on as the client sent it (headers and the Host it signed included); the answer read whole. */
async function forward(target: URL, agent: Agent, req: IncomingMessage, body: Buffer) {
  const { hostname, port } = target;
  const outgoing = httpRequest({
    hostname,
    port,
    method: req.method,
    path: req.url,
    headers: req.rawHeaders,
    setHost: false,
    agent,
  });
  outgoing.end(body);
  const [response] = (await once(outgoing, 'response')) as [IncomingMessage];
  return { response, body: await buffer(response) };
}

/** Answers the fault: its AWS error, or a closed connection. */
function inject(fault: NonNullable<FaultDecision['fault']>, req: IncomingMessage, res: ServerResponse): void {
  const { response } = fault;
  if (response) res.writeHead(response.status, response.headers).end(response.body);
  else req.socket.destroy();
}

/** Starts both proxies, in front of the real endpoints (`http://127.0.0.1:8000`). */
export async function startFaultLayer(options: {
  profile: FaultProfile;
  dynamodbEndpoint: string;
  snsEndpoint: string;
  log?: (line: string) => void;
}) {
  const log = options.log ?? (() => undefined);
  let injector = new FaultInjector(options.profile);
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });

  const handle = async (target: URL, req: IncomingMessage, res: ServerResponse) => {
    const body = await buffer(req);
    const { fault, delayBeforeMs, delayAfterMs } = injector.decide(parseRequest(req.headers, body));
    if (delayBeforeMs > 0) await sleep(delayBeforeMs);
    if (fault?.when === 'before') return inject(fault, req, res);
    let upstream: Awaited<ReturnType<typeof forward>>;
    try {
      upstream = await forward(target, agent, req, body);
    } catch (error) {
      if (!fault) injector.upstreamFailed();
      log(`[faults] ${target.origin} unreachable: ${(error as Error).message}`);
      return req.socket.destroy();
    }
    if (delayAfterMs > 0) await sleep(delayAfterMs);
    // After: the endpoint carried the request out; its answer is lost.
    if (fault) return inject(fault, req, res);
    const { response } = upstream;
    res
      .writeHead(response.statusCode ?? 502, response.statusMessage ?? '', response.rawHeaders)
      .end(upstream.body);
  };

  const listen = async (endpoint: string) => {
    const target = new URL(endpoint);
    if (target.protocol !== 'http:')
      throw new Error(`the fault layer proxies http endpoints only, not ${endpoint}`);
    const server = createServer((req, res) => {
      handle(target, req, res).catch((error: unknown) => {
        log(`[faults] proxy error: ${(error as Error).stack ?? error}`);
        req.socket.destroy();
      });
    });
    await once(server.listen(0, '127.0.0.1'), 'listening');
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
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
    /** The proxies' addresses, to hand the functions. */
    dynamodbEndpoint: dynamodb.url,
    snsEndpoint: sns.url,
    /** Replaces the profile (and its draws and counters): chaos runs switch between scenarios. */
    setProfile(profile: FaultProfile) {
      injector = new FaultInjector(profile);
    },
    counters: () => injector.counters(),
    close(): Promise<void> {
      closed ??= Promise.all(
        [dynamodb.server, sns.server].map((server) => {
          const done = once(server.close(), 'close');
          server.closeAllConnections();
          return done;
        }),
      ).then(() => agent.destroy());
      return closed;
    },
  };
}
