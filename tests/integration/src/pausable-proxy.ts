// A TCP proxy in front of a server that a test can pause, to stand for the server being
// stopped (SIGSTOP) without touching the stack's shared server: while paused, new
// connections are accepted and left unanswered (a stopped postmaster's backlog does the
// same), and bytes on open connections are held, not forwarded, until resume.
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

export interface PausableProxy {
  /** The port to connect to instead of the server's. */
  readonly port: number;
  pause(): void;
  resume(): void;
}

export async function startPausableProxy(target: { host: string; port: number }): Promise<PausableProxy> {
  let paused = false;
  const waiting: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const pipe = (client: Socket) => {
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('data', (chunk) => {
        if (!paused) {
          to.write(chunk);
          return;
        }
        from.pause();
        waiting.push(() => {
          to.write(chunk);
          from.resume();
        });
      });
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    }
  };
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (paused) waiting.push(() => pipe(client));
    else pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port: (server.address() as AddressInfo).port,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const go of waiting.splice(0)) go();
    },
  };
}
