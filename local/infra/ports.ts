import { createServer } from 'node:net';
import { InfraError, type InfraService } from './errors.ts';

/** True when nothing listens on `host:port` (we could bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(false);
      else reject(error);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free right now; tests use it so they never collide with a developer's 9092/8000. */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('the OS gave no port'))));
    });
  });
}

/** `count` distinct free ports. */
export async function findFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await findFreePort(host));
  return [...ports];
}

/** Checked before a service starts, so that "port taken" is reported as such and not as a crash. */
export async function assertPortFree(
  port: number,
  host: string,
  what: string,
  service: InfraService,
  hint: string,
) {
  if (await isPortFree(port, host)) return;
  throw new InfraError(
    service,
    'port-in-use',
    `${what} cannot start: port ${port} on ${host} is already in use by another process. ${hint}`,
  );
}
