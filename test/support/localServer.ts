/** Test servers on loopback: the tool targets, webhooks and slow peers that tests stand up. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  port: number;
  /** Drops open connections too, so a test never waits on a client that keeps one alive. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 at `port`, or a free port (a restarted server takes its old port again). */
export async function listenLocally(server: Server, port = 0): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
