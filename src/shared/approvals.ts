/**
 * Which tool calls wait for a human, and why. Pure: the workflow decides per call, from the
 * validated arguments, with the same code the tests and the API use.
 */
import type { ToolApprovalRule } from './approvalRules';
import type { RedactionRules } from './redaction';
import type { JsonSchema, PinnedTool, ToolKind, ToolRetry } from './toolSpec';

/** A bundle's approval rule for one tool (its schema: ./approvalRules.ts, kept out of workflow code). */
export type { ToolApprovalRule } from './approvalRules';

/** What the workflow needs to know about each tool the run's bundle grants. */
export interface ToolPolicy {
  name: string;
  kind: ToolKind;
  /** False when calls never wait; when true, `approval` may narrow it down to some calls. */
  requiresApproval: boolean;
  /** The bundle's rule, when it set one (absent in policies from before approval thresholds). */
  approval?: ToolApprovalRule;
  /** The pinned JSON Schema of the arguments (absent in policies from before pinning: src/shared/legacyTools.ts). */
  parameters?: JsonSchema;
  /** The task queue of a worker tool (absent for MCP and HTTP tools, and before pinning: the run's own queue). */
  taskQueue?: string;
  /** Per attempt, when the tool sets one. */
  timeoutMs?: number;
  retry?: ToolRetry;
  /** The pin's redaction rules for arguments: what the call's activity summary leaves out. */
  redactArguments?: RedactionRules;
}

/** What the bundle's approval settings resolve to for one tool, with the tool's own default. */
export function approvalRuleOf(pin: Pick<PinnedTool, 'kind' | 'approvalByDefault'>, bundleRule: ToolApprovalRule | undefined): {
  requiresApproval: boolean;
  approval?: ToolApprovalRule;
} {
  if (pin.kind === 'read') return { requiresApproval: false, ...(bundleRule !== undefined && { approval: bundleRule }) };
  const requiresApproval = bundleRule === undefined ? pin.approvalByDefault : bundleRule !== 'never';
  return { requiresApproval, ...(bundleRule !== undefined && { approval: bundleRule }) };
}

/** Why a call waits for approval: what kind of tool it is and which rule fired. */
export interface ApprovalRisk {
  /** The tool's kind: only `write` and `destructive` tools are ever gated. */
  kind: ToolKind;
  /**
   * `always`: the bundle gates every call of the tool; `default`: the tool changes the world and
   * the bundle says nothing; `above`: a numeric argument is over the bundle's threshold.
   */
  rule: 'always' | 'default' | 'above';
  /** The threshold rule's argument, limit and the value the call asked for. */
  field?: string;
  threshold?: number;
  value?: number | null;
  /** One line for a human. */
  summary: string;
}

/**
 * The risk of a call that needs approval, or undefined when it may run at once. Reads never wait.
 * A threshold gates only a call whose argument is a number above it; a missing or non-numeric
 * value is gated (fails closed). Policies from before thresholds carry only `requiresApproval`.
 */
export function approvalRequirement(tool: ToolPolicy, args: unknown): ApprovalRisk | undefined {
  if (tool.kind === 'read' || !tool.requiresApproval) return undefined;
  const rule = tool.approval;
  if (rule !== undefined && typeof rule === 'object') {
    const { field, value: threshold } = rule.above;
    const raw = args !== null && typeof args === 'object' ? (args as Record<string, unknown>)[field] : undefined;
    const value = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
    if (value !== null && value <= threshold) return undefined;
    return {
      kind: tool.kind,
      rule: 'above',
      field,
      threshold,
      value,
      summary: value === null
        ? `${field} is not a number, so the threshold of ${threshold} cannot clear it`
        : `${field} ${value} is above the threshold of ${threshold}`,
    };
  }
  if (rule === 'always') return { kind: tool.kind, rule: 'always', summary: `the bundle requires approval for every ${tool.name} call` };
  return { kind: tool.kind, rule: 'default', summary: `${tool.name} is a ${tool.kind} tool, and those need approval unless the bundle says otherwise` };
}

/**
 * What the approver is shown as the model's reason: the text the model wrote alongside its tool
 * calls, else the call's own `reason` argument.
 */
export function statedReason(assistantText: string | null | undefined, args: unknown): string | null {
  const text = assistantText?.trim();
  if (text) return text;
  const reason = args !== null && typeof args === 'object' ? (args as Record<string, unknown>).reason : undefined;
  return typeof reason === 'string' && reason.trim() ? reason.trim() : null;
}
