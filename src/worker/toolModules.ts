/** The tool modules BOSUN_TOOL_MODULES names, loaded at start-up. */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BosunTool } from '../sdk/tools';

/**
 * Imports each module (a path relative to `cwd`, or a package name) and collects its tools: the
 * default export or `tools`, an array of defined tools or one. Rejects naming the module when it
 * cannot be loaded or exports no tool.
 */
export async function loadToolModules(specifiers: readonly string[], cwd = process.cwd()): Promise<BosunTool[]> {
  const loaded: BosunTool[] = [];
  if (specifiers.length) assertOwnToolSdk();
  // Resolved as `require` would from `cwd`: a directory finds its index, a package its entry point.
  const resolve = createRequire(path.join(cwd, 'bosun-tool-modules.js')).resolve;
  for (const specifier of specifiers) {
    const isPath = specifier.startsWith('.') || specifier.startsWith('/') || specifier.includes('/') && !specifier.startsWith('@');
    let module: Record<string, unknown>;
    try {
      // A path, not a file URL: compiled to CommonJS (npm run build), import() becomes require().
      module = await import(resolve(isPath ? path.resolve(cwd, specifier) : specifier));
    } catch (err) {
      throw new Error(`BOSUN_TOOL_MODULES: cannot load "${specifier}": ${err instanceof Error ? err.message : String(err)}`);
    }
    const exported = module.tools ?? (module.default as { tools?: unknown } | undefined)?.tools ?? module.default;
    const tools = (Array.isArray(exported) ? exported : [exported]).filter(isTool);
    if (!tools.length) throw new Error(`BOSUN_TOOL_MODULES: "${specifier}" exports no tool (export default [tool, ...] or export const tools = [...])`);
    loaded.push(...tools);
  }
  return loaded;
}

/**
 * Tool modules import `bosun/tools`; it must be this worker's own copy, or a tool's `ToolError` would
 * be another class than the one the worker recognises (and its refusals would be retried as
 * failures). Compiled code gets it with `node --conditions=bosun-compiled` (package.json "exports").
 * Throws naming both files otherwise.
 */
function assertOwnToolSdk(): void {
  const theirs = require.resolve('bosun/tools');
  const ours = require.resolve('../sdk/tools');
  if (theirs !== ours) {
    throw new Error(`BOSUN_TOOL_MODULES: "bosun/tools" resolves to ${theirs}, not to this worker's ${ours}: `
      + 'run compiled Bosun with `node --conditions=bosun-compiled`, and tool modules in TypeScript under tsx only where no tsconfig aliases "bosun/tools" (docs/deployment.md)');
  }
}

function isTool(value: unknown): value is BosunTool {
  const candidate = value as Partial<BosunTool> | undefined;
  return typeof candidate?.handler === 'function' && typeof candidate.manifest?.name === 'string';
}
