/** The shape of a runner of tools a bundle declares rather than a worker's code (MCP servers, HTTP endpoints). */
import type { ToolContext } from '../../sdk/tools';
import type { Bundle } from '../../shared/bundle';
import type { PinnedTool } from '../../shared/toolSpec';
import type { ToolOutcome } from './invoke';

/** Runs the declared tool `pin` of `bundle` with `args` (already checked against the pin's schema). */
export type DeclaredToolExecutor = (pin: PinnedTool, args: unknown, ctx: ToolContext, bundle: Bundle) => Promise<ToolOutcome>;
