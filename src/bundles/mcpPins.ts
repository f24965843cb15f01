/**
 * Pinning at publish, for the MCP servers a bundle declares: each server is asked for its tools
 * (one fresh session, src/activities/tools/mcp), and the granted ones are pinned with their input
 * schema, annotations and the hash the worker checks before every call, so an upstream change
 * fails the call instead of running it with other arguments.
 */
import { listMcpTools, McpServerProblem, type McpToolPin } from '../activities/tools/mcp';
import { resolveSecrets, SecretError, type SecretStore } from '../secrets/secretStore';
import type { BundleContent } from '../shared/bundle';
import { DEFAULT_MCP_TIMEOUT_MS, mcpSecretNames, type McpServerDeclaration } from '../shared/mcp';
import type { PinnedTool } from '../shared/toolSpec';

/** What listing an MCP server at publish needs: its credentials, and the operator's stdio allow-list. */
export interface McpListing {
  secrets?: SecretStore;
  /** BOSUN_MCP_STDIO_COMMANDS: the only programs a bundle may start as stdio servers. */
  stdioCommands: readonly string[];
}

/** The pins of every granted MCP tool (in the bundle's order), or a problem per server that could not be listed. */
export async function pinMcpTools(
  content: Pick<BundleContent, 'mcp' | 'network'>, listing: McpListing | undefined,
): Promise<{ pins: PinnedTool[]; problems: string[] }> {
  const pins: PinnedTool[] = [];
  const problems: string[] = [];
  for (const [i, server] of (content.mcp ?? []).entries()) {
    if (!listing) {
      problems.push(`mcp.${i}: MCP servers cannot be listed here; publish through the API`);
      continue;
    }
    try {
      const secrets = await resolveSecrets(listing.secrets, mcpSecretNames(server));
      const network = { allowHosts: content.network?.allowHosts ?? [], allowPrivate: content.network?.allowPrivate };
      const listed = await listMcpTools(server, { secrets, network, stdioCommands: listing.stdioCommands });
      pins.push(...listed.map((pin) => pinnedMcpTool(server, pin)));
    } catch (err) {
      if (!(err instanceof McpServerProblem) && !(err instanceof SecretError)) throw err;
      problems.push(`mcp.${i}: ${err.message}`);
    }
  }
  return { pins, problems };
}

/** An MCP tool as the bundle pins it: the server's kind hints decide approval by default (destructive and write tools wait). */
function pinnedMcpTool(server: McpServerDeclaration, pin: McpToolPin): PinnedTool {
  return {
    name: pin.name,
    version: 1,
    description: pin.description,
    kind: pin.kind,
    parameters: pin.inputSchema,
    schemaHash: pin.schemaHash,
    source: { type: 'mcp', server: server.name, tool: pin.tool },
    secrets: mcpSecretNames(server),
    scope: server.url ? ['network:allow-list'] : [],
    approvalByDefault: pin.kind !== 'read',
    timeoutMs: server.timeoutMs ?? DEFAULT_MCP_TIMEOUT_MS,
    // A server's tool has no sandbox of its own: in a sandbox run only its reads are called.
    sandbox: pin.kind === 'read' ? 'live' : 'none',
  };
}
