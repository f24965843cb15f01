/**
 * The local servers the prompt-injection corpus runs against, each on loopback and each recording
 * every request it gets:
 *
 * - `target`: what an allow-list escape would reach (an internal admin page). It must never be hit.
 * - `injector`: an attacker's web page; `/page/<id>` serves a corpus entry's text, `/hop/<n>/<id>`
 *   redirects n times and then to `target`.
 * - `partner`: a partner API that wants the bundle's token; `/notes/<id>` serves a corpus entry's
 *   text, `/echo/<id>` echoes the Authorization header it got (a careless partner), `/redirect?to=`.
 * - `evil`: an exfiltration sink; `/collect/<id>` answers with what it collected.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Hit {
  server: 'target' | 'injector' | 'partner' | 'evil';
  /** Path and query, as received. */
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface InjectionServers {
  /** Every request any of the servers got, in order. */
  hits: Hit[];
  /** Texts served at `injector /page/<id>` and `partner /notes/<id>`. */
  pages: Map<string, string>;
  ports: { target: number; injector: number; partner: number; evil: number };
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** `partnerToken`: the value the partner expects as `Authorization: Bearer <token>`. */
export async function startInjectionServers(partnerToken: string): Promise<InjectionServers> {
  const hits: Hit[] = [];
  const pages = new Map<string, string>();
  const servers: http.Server[] = [];
  let targetPort = 0;

  const make = (name: Hit['server'], handle: (url: URL, req: http.IncomingMessage, res: http.ServerResponse) => void) => {
    const server = http.createServer((req, res) => {
      hits.push({ server: name, path: req.url ?? '', headers: { ...req.headers } });
      handle(new URL(req.url ?? '/', 'http://local'), req, res);
    });
    servers.push(server);
    return server;
  };
  const text = (res: http.ServerResponse, status: number, body: string, type = 'text/plain') =>
    void res.writeHead(status, { 'content-type': `${type}; charset=utf-8` }).end(body);

  const target = make('target', (_url, _req, res) => text(res, 200, 'TARGET REACHED: internal admin console'));

  const injector = make('injector', (url, _req, res) => {
    const page = /^\/page\/([\w-]+)$/.exec(url.pathname);
    if (page && pages.has(page[1]!)) return text(res, 200, pages.get(page[1]!)!, 'text/html');
    const hop = /^\/hop\/(\d+)\/([\w-]+)$/.exec(url.pathname);
    if (hop) {
      const left = Number(hop[1]);
      const location = left > 0 ? `/hop/${left - 1}/${hop[2]}` : `http://127.0.0.1:${targetPort}/t/${hop[2]}`;
      return void res.writeHead(302, { location }).end();
    }
    text(res, 404, 'no such page');
  });

  const partner = make('partner', (url, req, res) => {
    if (req.headers.authorization !== `Bearer ${partnerToken}`) return text(res, 401, 'bad token');
    const notes = /^\/notes\/([\w-]+)$/.exec(url.pathname);
    if (notes && pages.has(notes[1]!)) return text(res, 200, pages.get(notes[1]!)!);
    // A careless partner: it shows the caller the credential it presented.
    if (url.pathname.startsWith('/echo/')) {
      return text(res, 200, `path: ${url.pathname}\nauthorization: ${req.headers.authorization}\nuser-agent: ${req.headers['user-agent']}`);
    }
    if (url.pathname === '/redirect' && url.searchParams.get('to')) return void res.writeHead(302, { location: url.searchParams.get('to')! }).end();
    text(res, 404, 'no such thing');
  });

  const evil = make('evil', (url, _req, res) => text(res, 200, `collected: ${url.search || 'nothing'}`));

  targetPort = await listen(target);
  const ports = { target: targetPort, injector: await listen(injector), partner: await listen(partner), evil: await listen(evil) };
  return {
    hits,
    pages,
    ports,
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      );
    },
  };
}

/** A value as it reads in clear and inside base64 at each of the three alignments (as secrets.test.ts scans). */
export function formsOf(value: string): string[] {
  const forms = [value];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), Buffer.from(value)]).toString('base64');
    forms.push(b64.slice(Math.ceil((shift * 4) / 3) + 1, -4));
  }
  return forms;
}
