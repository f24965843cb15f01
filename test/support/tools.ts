/** The tools the test stacks' workers have, and the registry entries they make, for tests that need them without a worker. */
import { createHttpFetchTool } from '../../src/activities/tools/httpFetch';
import type { Queryable } from '../../src/db/pool';
import { registerTools, type RegisteredTool } from '../../src/db/toolRegistry';
import type { BosunTool } from '../../src/sdk/tools';
import { tools as supportTools } from '../../examples/support-tools';

/** What the tool registry holds once a worker with `tools` has registered (one live unversioned build). */
export function registeredFrom(tools: readonly BosunTool[]): RegisteredTool[] {
  return tools.map(({ manifest }) => ({
    name: manifest.name, version: manifest.version, schemaHash: manifest.schemaHash, manifest,
    builds: [{ buildId: 'unversioned', taskQueue: 'test', live: true, lastSeenAt: new Date().toISOString() }],
  }));
}

/** Every tool of a test stack's worker: the built-in http_fetch and the demo pack (examples/support-tools). */
export const stackTools: readonly BosunTool[] = [createHttpFetchTool(), ...supportTools];

/** The registry as a test stack's worker leaves it. */
export const stackRegistry: RegisteredTool[] = registeredFrom(stackTools);

/** `tool` as defined (name, version, schema, kind, scope), doing what `handler` does instead: a stand-in with the same pin. */
export function withHandler(tool: BosunTool, handler: BosunTool['handler']): BosunTool {
  return { ...tool, handler };
}

/**
 * Registers a test stack's tools in `db`'s registry as a live worker would, so bundles granting them
 * can be published there without a worker (tests calling activities directly).
 */
export async function registerStackTools(db: Queryable): Promise<void> {
  await registerTools(db, 'unversioned', stackTools.map((tool) => ({ manifest: tool.manifest, taskQueue: 'test' })));
}
