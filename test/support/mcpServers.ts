/**
 * MCP servers for tests, over real transports on loopback:
 *
 * - `startDocsMcpServer`: the SDK's McpServer behind its streamable HTTP transport (stateful
 *   sessions), with `search_docs` (read-only), `delete_doc` (destructive) and `tag_doc`
 *   (not destructive; `tag: "bad"` answers isError). It counts calls, records request headers, can
 *   change `search_docs` (drift) and restart on the same port (every session lost).
 * - `startRawMcpServer`: a hand-written JSON-RPC endpoint that lists whatever tools it is given, for
 *   listings the SDK server would never send (huge or non-object schemas, U+0000).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { listenLocally, type LocalServer } from './localServer';

export interface DocsMcpServer {
  url: string;
  port: number;
  /** Calls per tool name, across restarts. */
  calls: Map<string, number>;
  /** Headers of every HTTP request, in order, across restarts. */
  requests: http.IncomingHttpHeaders[];
  /** `search_docs` takes a `limit` too and says so: new sessions see a different tool. */
  changeSearchDocs(): void;
  /** Closes the server and every session, then listens on the same port again. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** An Authorization header value the server expects, when given: other requests get 401. */
export async function startDocsMcpServer(options: { requireAuthorization?: string } = {}): Promise<DocsMcpServer> {
  const calls = new Map<string, number>();
  const requests: http.IncomingHttpHeaders[] = [];
  let changed = false;
  const count = (tool: string) => calls.set(tool, (calls.get(tool) ?? 0) + 1);

  const mcpServer = () => {
    const server = new McpServer({ name: 'docs', version: '1.0.0' });
    const searchInput: { query: z.ZodString; limit?: z.ZodNumber } = changed ? { query: z.string(), limit: z.number().int() } : { query: z.string() };
    server.registerTool(
      'search_docs',
      {
        description: changed ? 'Search the docs; at most `limit` hits.' : 'Search the docs.',
        inputSchema: searchInput,
        annotations: { readOnlyHint: true },
      },
      async ({ query }, extra) => {
        count('search_docs');
        if (query === 'huge') return { content: [{ type: 'text', text: 'x'.repeat(200_000) }] };
        // A careless server: it shows the caller the credential it presented.
        if (query === 'echo-auth') return { content: [{ type: 'text', text: `you sent ${extra.requestInfo?.headers.authorization}` }] };
        return { content: [{ type: 'text', text: `2 docs match "${query}"` }], structuredContent: { hits: [`${query}-1`, `${query}-2`] } };
      },
    );
    server.registerTool('delete_doc', { description: 'Delete a doc.', inputSchema: { id: z.string() }, annotations: { destructiveHint: true } }, async ({ id }) => {
      count('delete_doc');
      return { content: [{ type: 'text', text: `deleted ${id}` }, { type: 'image', mimeType: 'image/png', data: 'iVBORw0KGgo=' }] };
    });
    server.registerTool('tag_doc', { description: 'Tag a doc.', inputSchema: { id: z.string(), tag: z.string() }, annotations: { destructiveHint: false } }, async ({ id, tag }) => {
      count('tag_doc');
      if (tag === 'bad') return { isError: true, content: [{ type: 'text', text: `tag "${tag}" is not allowed` }] };
      return { content: [{ type: 'text', text: `tagged ${id} with ${tag}` }] };
    });
    return server;
  };

  const handler = () => {
    const transports = new Map<string, StreamableHTTPServerTransport>();
    return async (req: http.IncomingMessage, res: http.ServerResponse) => {
      requests.push({ ...req.headers });
      if (options.requireAuthorization !== undefined && req.headers.authorization !== options.requireAuthorization) {
        return void res.writeHead(401).end('bad credentials');
      }
      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        const transport = transports.get(sessionId);
        if (!transport) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return transport.handleRequest(req, res);
      }
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => void transports.set(id, transport),
      });
      await mcpServer().connect(transport);
      await transport.handleRequest(req, res);
    };
  };

  const listen = async (port = 0) => listenLocally(http.createServer(handler()), port);
  let local: LocalServer = await listen();
  const port = local.port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    calls,
    requests,
    changeSearchDocs: () => {
      changed = true;
    },
    restart: async () => {
      await local.close();
      local = await listen(port);
    },
    close: () => local.close(),
  };
}

export interface RawMcpServer {
  url: string;
  port: number;
  /** JSON-RPC methods received, in order. */
  methods: string[];
  close(): Promise<void>;
}

/**
 * Answers `initialize`, lists `tools` as given (unchecked; a string is sent as the JSON text of the
 * list) and answers every `tools/call` with `callResult`; `'hang'` never answers calls, `hangOnList`
 * never answers the listing.
 */
export async function startRawMcpServer(tools: unknown, callResult: unknown = { content: [] }, options: { hangOnList?: boolean } = {}): Promise<RawMcpServer> {
  const methods: string[] = [];
  const server = http.createServer(async (req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method: string; params?: { protocolVersion?: string } };
    methods.push(message.method);
    if (message.id === undefined) return void res.writeHead(202).end();
    if ((message.method === 'tools/call' && callResult === 'hang') || (message.method === 'tools/list' && options.hangOnList)) return;
    const result =
      message.method === 'initialize'
        ? JSON.stringify({ protocolVersion: message.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } })
        : message.method === 'tools/list'
          ? `{"tools":${typeof tools === 'string' ? tools : JSON.stringify(tools)}}`
          : JSON.stringify(callResult);
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"jsonrpc":"2.0","id":${message.id},"result":${result}}`);
  });
  const local = await listenLocally(server);
  return { url: `http://127.0.0.1:${local.port}/mcp`, port: local.port, methods, close: () => local.close() };
}
