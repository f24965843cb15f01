/**
 * Calling one code tool (`defineTool`, src/sdk/tools.ts) the way its definition asks: its
 * arguments parsed by its own zod schema, the sandbox implementation in a sandbox run, a
 * `ToolError` turned into an answer for the model, the result checked against its result schema.
 */
import { ToolError, type BosunTool, type ToolContext } from '../../sdk/tools';

/** `ok: false` is an answer the model should hear (a ToolError, a refused sandbox call), not a failure to retry. */
export interface ToolOutcome {
  ok: boolean;
  output: unknown;
}

/**
 * Runs `tool` on `args` (already checked against its pinned JSON Schema by the workflow). Rejects
 * only with what the handler threw other than a ToolError: those are retried per the tool's policy.
 */
export async function invokeTool(tool: BosunTool, args: unknown, ctx: ToolContext): Promise<ToolOutcome> {
  const parsed = tool.args.safeParse(args);
  if (!parsed.success) {
    // The pinned JSON Schema accepted what zod does not (a refinement it cannot express): the model can fix it.
    return refused(`invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const handler = handlerFor(tool, ctx.sandbox);
  if (!handler) {
    return refused(`${tool.manifest.name} was not run: this is a sandbox run, and the tool is a ${tool.manifest.kind} tool with no sandbox implementation`);
  }
  let output: unknown;
  try {
    output = await handler(parsed.data, ctx);
  } catch (err) {
    if (err instanceof ToolError) return refused(err.message, err.details);
    throw err;
  }
  if (tool.result) {
    const checked = tool.result.safeParse(output);
    if (!checked.success) {
      return refused(`${tool.manifest.name} returned a result that does not match its result schema: ${checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
  }
  return { ok: true, output: output === undefined ? null : output };
}

/** The live handler, the sandbox one, or none: a sandbox run never calls a write tool's live handler unless the tool says it is safe. */
function handlerFor(tool: BosunTool, sandbox: boolean): BosunTool['handler'] | undefined {
  if (!sandbox) return tool.handler;
  if (tool.sandboxHandler) return tool.sandboxHandler;
  return tool.manifest.sandbox === 'live' ? tool.handler : undefined;
}

function refused(error: string, details?: Record<string, unknown>): ToolOutcome {
  return { ok: false, output: { ...details, error } };
}
