/**
 * `npm start`'s check of the Temporal dev server's ports (src/dev/temporalServer.ts): a port another
 * process holds stops the stack with a message naming the port and the setting that moves it,
 * instead of the stack attaching to whatever server already listens there.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireFreePorts } from '../../src/dev/temporalServer';

describe('the dev server ports check', () => {
  let holder: net.Server;
  let heldPort: number;
  beforeAll(async () => {
    holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    heldPort = (holder.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  /** A port nothing listens on: one the system handed out and took back. */
  async function freePort(): Promise<number> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }

  it('refuses a port another process listens on, naming it and its setting', async () => {
    const free = await freePort();
    await expect(requireFreePorts([
      { what: "Temporal's", port: heldPort, setting: 'BOSUN_TEMPORAL_PORT' },
      { what: "Temporal UI's", port: free, setting: 'BOSUN_UI_PORT' },
    ])).rejects.toThrow(new RegExp(`^Temporal's port ${heldPort} on 127\\.0\\.0\\.1 is in use .*; stop it or set BOSUN_TEMPORAL_PORT$`));
  });

  it('names every taken port, and passes free ones', async () => {
    const free = await freePort();
    await expect(requireFreePorts([{ what: "Temporal's", port: free, setting: 'BOSUN_TEMPORAL_PORT' }])).resolves.toBeUndefined();
    const refused = requireFreePorts([
      { what: "Temporal's", port: heldPort, setting: 'BOSUN_TEMPORAL_PORT' },
      { what: "Temporal UI's", port: heldPort, setting: 'BOSUN_UI_PORT' },
    ]);
    await expect(refused).rejects.toThrow(/BOSUN_TEMPORAL_PORT\n.*BOSUN_UI_PORT$/);
  });
});
