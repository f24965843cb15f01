/**
 * MCP servers a bundle grants tools of: the declaration's schema, the checks the schema cannot make
 * (secrets listed, host allowed, names the model can call), and the model-facing tool name. Pure:
 * the bundle schema, the API and the workflow may all use it.
 */
import { z } from 'zod';
import { toolApprovalSchema } from './approvalRules';
import { hostMatches } from './hostPatterns';

const secretName = z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'an upper-case secret name');

/** An HTTP header a secret may fill: not one that changes how the request is routed or framed. */
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,100}$/, 'a header name')
  .refine(
    (h) => !/^(host|connection|content-length|content-type|accept|transfer-encoding|te|upgrade|mcp-session-id|mcp-protocol-version|last-event-id)$/i.test(h),
    'a header the MCP transport does not set itself',
  );

/** An environment variable name; not one that changes how the server's program is loaded. */
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,99}$/, 'an environment variable name')
  .refine((v) => !/^(PATH|LD_.*|DYLD_.*|NODE_OPTIONS|NODE_PATH)$/i.test(v), 'a variable that does not change how programs are loaded');

const grantedToolSchema = z
  .object({
    name: z.string().min(1).max(128).describe("The tool's name on the server."),
    approval: toolApprovalSchema.optional(),
  })
  .strict();

/** The longest a call of one MCP tool may take, in milliseconds. */
export const MAX_MCP_TIMEOUT_MS = 600_000;
/** Per-call timeout when the declaration sets none, in milliseconds. */
export const DEFAULT_MCP_TIMEOUT_MS = 30_000;

/**
 * One MCP server of a bundle: reached over streamable HTTP (`url`) or started as a subprocess
 * speaking stdio (`command`, `args`), exactly one of the two. Only the tools listed are granted;
 * the server's other tools are never shown to the model.
 */
export const mcpServerSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'lower-case letters, digits and dashes, starting with a letter, at most 31'),
    url: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      // z.url's own check has already reported a text that does not parse.
      .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), 'a URL without credentials (use headers)')
      .optional()
      .describe('A streamable HTTP endpoint.'),
    command: z.string().min(1).max(500).optional().describe("A program the worker starts, speaking MCP on stdio; the operator's BOSUN_MCP_STDIO_COMMANDS must list it."),
    args: z.array(z.string().max(2000)).max(100).optional(),
    headers: z
      .record(headerName, z.object({ secret: secretName, scheme: z.string().regex(/^[A-Za-z0-9-]{0,50}$/).optional() }).strict())
      .optional()
      .describe('HTTP headers filled from secrets (`<scheme> <value>`, or the bare value without a scheme); sent to this server only.'),
    env: z
      .record(envName, z.object({ secret: secretName }).strict())
      .optional()
      .describe("Environment variables of the server's process, filled from secrets."),
    tools: z.array(grantedToolSchema).min(1).max(50),
    timeoutMs: z.number().int().min(100).max(MAX_MCP_TIMEOUT_MS).optional().describe(`Per call; ${DEFAULT_MCP_TIMEOUT_MS} ms when absent.`),
  })
  .strict()
  .superRefine((decl, ctx) => {
    const http = decl.url !== undefined;
    const stdio = decl.command !== undefined;
    if (http === stdio) ctx.addIssue({ code: 'custom', message: 'exactly one of url (streamable HTTP) and command (stdio)' });
    if (http && (decl.args !== undefined || decl.env !== undefined)) ctx.addIssue({ code: 'custom', message: 'args and env are for stdio servers (command)' });
    if (stdio && decl.headers !== undefined) ctx.addIssue({ code: 'custom', message: 'headers are for HTTP servers (url)' });
  });

export type McpServerDeclaration = z.infer<typeof mcpServerSchema>;

/** What of its bundle a declaration is checked against. */
export interface McpServerContext {
  /** The bundle's `secrets`. */
  secrets: readonly string[];
  /** The bundle's `network.allowHosts` (none when the bundle has no network policy). */
  allowHosts: readonly string[];
}

/** OpenAI's rule for function names, which every provider Bosun speaks to accepts. */
const modelToolName = /^[a-zA-Z0-9_-]{1,64}$/;

/** The name the model calls an MCP tool by: `<server>__<tool>` (server names have no `_`, so it splits back uniquely). */
export function mcpToolName(server: string, tool: string): string {
  return `${server}__${tool}`;
}

/** Every secret name the declaration's headers and environment use. */
export function mcpSecretNames(decl: Pick<McpServerDeclaration, 'headers' | 'env'>): string[] {
  return [...new Set([...Object.values(decl.headers ?? {}), ...Object.values(decl.env ?? {})].map((ref) => ref.secret))];
}

/**
 * Problems the schema cannot see, each as `<field>: <why>`: a secret the bundle does not list, a
 * URL whose host is not on the bundle's allow-list, a model-facing name the model could not call.
 * (A tool granted twice is the bundle's check, across all its tools: src/shared/bundle.ts.) Empty
 * when the declaration is sound.
 */
export function mcpServerProblems(decl: McpServerDeclaration, bundle: McpServerContext): string[] {
  const problems: string[] = [];
  const listed = new Set(bundle.secrets);
  for (const [field, refs] of [['headers', decl.headers], ['env', decl.env]] as const) {
    for (const [key, { secret }] of Object.entries(refs ?? {})) {
      if (!listed.has(secret)) problems.push(`${field}.${key}.secret: ${secret} is not listed in secrets`);
    }
  }
  if (decl.url !== undefined && !hostMatches(bundle.allowHosts, new URL(decl.url))) {
    problems.push(`url: ${new URL(decl.url).host} is not in network.allowHosts`);
  }
  decl.tools.forEach((tool, i) => {
    const name = mcpToolName(decl.name, tool.name);
    if (!modelToolName.test(name)) {
      problems.push(`tools.${i}.name: the model would call it "${name}", which is not 1-64 letters, digits, _ and -`);
    }
  });
  return problems;
}
