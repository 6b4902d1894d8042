import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** How long a client may take to send its headers, and its whole request (the body included). */
export interface ListenerTimeouts {
  headersMs: number;
  requestMs: number;
}

/**
 * The defaults of every local listener: a client that stalls its headers or its body is answered 408
 * within seconds instead of holding a connection for Node's five minutes. The body's limit is API
 * Gateway's 29 s integration limit, plus a second.
 */
const DEFAULT_TIMEOUTS: ListenerTimeouts = { headersMs: 10_000, requestMs: 30_000 };

interface SafeListenerOptions {
  /** Names the listener in its log lines, e.g. `api` or `dashboard`. */
  name: string;
  log: (line: string) => void;
  timeouts?: ListenerTimeouts;
  /** The answer to CONNECT (which Node would otherwise drop unanswered); 405 Method Not Allowed by default. */
  connect?: { status: number; message: string };
}

/** A whole JSON response on a raw socket, for requests Node's HTTP layer hands over without a response. */
function rawResponse(socket: Duplex, status: number, message = STATUS_CODES[status]): void {
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The 4xx of a request Node's parser refused (400 unless named here), or that did not arrive in time. */
const CLIENT_ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  ERR_HTTP_HEADERS_TIMEOUT: 408,
};

const noop = () => undefined;

/** A whole JSON response with its length. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/**
 * An HTTP server whose handler cannot take the process down: a synchronous throw or a rejection is
 * logged and answered 500 (or the connection closed, if the answer had begun), an `error` on the request
 * or the response (a write after the end, a reset) is swallowed, a request Node's parser refuses gets a
 * JSON 4xx, and stalled clients get 408. Every listener of the local runtime is one of these: one
 * malformed request must never stop the API, the consumers and the dashboard that share the process.
 */
export function safeHttpServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void | Promise<void>,
  options: SafeListenerOptions,
): Server {
  const { name, log } = options;
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const failed = (response: ServerResponse, error: unknown) => {
    log(`[${name}] unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    if (response.headersSent || response.destroyed) {
      response.destroy();
      return;
    }
    sendJson(response, 500, { message: 'Internal server error' }, { Connection: 'close' });
  };
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      // Longer than a client keeps an idle connection (undici: 4 s, unless told; browsers: about 60 s), so
      // the client closes it first. With Node's 5 s, a request sent as the server gave the connection up
      // (likelier when the process is busy) was reset instead of answered.
      keepAliveTimeout: 65_000,
      // How often Node checks the two limits above (its default, 30 s, would let them run late).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, timeouts.headersMs / 4)),
    },
    (request, response) => {
      request.on('error', noop);
      response.on('error', noop);
      try {
        const handled = handler(request, response);
        if (handled) handled.catch((error: unknown) => failed(response, error));
      } catch (error) {
        failed(response, error);
      }
    },
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    rawResponse(socket, CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400);
  });
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    socket.on('error', noop);
    rawResponse(socket, options.connect?.status ?? 405, options.connect?.message);
  });
  // After listening: a server error is logged, never thrown (listen's own errors are the caller's).
  server.on('listening', () => server.on('error', (error) => log(`[${name}] ${error.message}`)));
  return server;
}
