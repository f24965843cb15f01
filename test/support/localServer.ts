/** Test servers on loopback: the tool targets, webhooks and slow peers that tests stand up. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  port: number;
  /** Drops open connections too, so a test never waits on a client that keeps one alive. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 at a free port. */
export async function listenLocally(server: Server): Promise<LocalServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
