/**
 * An MCP server on stdio for tests (`node --import tsx test/support/mcpStdioServer.ts`): `whoami`
 * shows the token it got in STDIO_TOKEN (a careless server), `add` sums two numbers as structured
 * content, `crash` ends the process mid-call. Each call is appended to the file in CALL_LOG, when set.
 */
import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const log = (tool: string) => process.env.CALL_LOG && appendFileSync(process.env.CALL_LOG, `${process.pid} ${tool}\n`);

const server = new McpServer({ name: 'stdio-test', version: '1.0.0' });
server.registerTool('whoami', { description: 'Who the server runs as.', inputSchema: {}, annotations: { readOnlyHint: true } }, async () => {
  log('whoami');
  return { content: [{ type: 'text', text: `token ${process.env.STDIO_TOKEN ?? '(none)'}, pid ${process.pid}` }] };
});
server.registerTool('add', { description: 'Add two numbers.', inputSchema: { a: z.number(), b: z.number() }, annotations: { readOnlyHint: true } }, async ({ a, b }) => {
  log('add');
  return { content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } };
});
server.registerTool('crash', { description: 'Exit at once.', inputSchema: {}, annotations: { destructiveHint: true } }, async () => {
  log('crash');
  process.exit(1);
});

void server.connect(new StdioServerTransport());
