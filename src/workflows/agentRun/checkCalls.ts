/**
 * The model's tool calls, checked against the run's policy before anything runs. A repeated ID, a
 * call cut by the output token limit, a tool the bundle does not grant, or arguments the tool's
 * schema refuses go back to the model as a tool error; a valid call carries its tool, its parsed
 * arguments and, when it waits for a human, why. No I/O: it only notes the IDs it saw.
 */
import { approvalRequirement, type ApprovalRisk, type ToolPolicy } from '../../shared/approvals';
import type { ToolCall } from '../../shared/domain';
import { legacyToolPins } from '../../shared/legacyTools';
import { parseToolArguments } from '../../shared/toolArguments';
import type { JsonSchema } from '../../shared/toolSpec';
import type { Run } from './state';

interface PlacedCall {
  call: ToolCall;
  /** 1-based place in the model's reply: the result's ordinal in the step. */
  ordinal: number;
}

/** A call that may run, with the arguments its tool's schema accepted; `risk` when it needs approval. */
export interface ValidCall extends PlacedCall {
  valid: true;
  tool: string;
  /** What the bundle grants of the tool: its schema, queue, timeout and retry. */
  policy: ToolPolicy;
  args: unknown;
  risk: ApprovalRisk | undefined;
}

/** A call that does not run, and what the model is told instead. */
export interface RefusedCall extends PlacedCall {
  valid: false;
  status: 'invalid_arguments' | 'rejected';
  message: string;
  detail?: { approvalId: string };
}

export type CheckedCall = ValidCall | RefusedCall;

const TRUNCATED_CALL_PROBLEM =
  'the reply reached its output token limit in the middle of this call, so its arguments are incomplete and it was not run; ' +
  'ask for it again with shorter arguments';

/** Each of a reply's calls, checked in the model's order. */
export function checkCalls(run: Run, calls: ToolCall[]): CheckedCall[] {
  return calls.map((call, index) => checkCall(run, { call, ordinal: index + 1 }));
}

function checkCall(run: Run, placed: PlacedCall): CheckedCall {
  const { call } = placed;
  if (run.seenToolCallIds.has(call.id)) return invalid(placed, [`tool call ID "${call.id}" was already used`]);
  run.seenToolCallIds.add(call.id);
  if (call.truncated) return invalid(placed, [TRUNCATED_CALL_PROBLEM]);
  const granted = run.input.policy.tools.find((t) => t.name === call.name);
  const parameters = granted && parametersOf(granted);
  if (!granted || !parameters) return invalid(placed, [`tool "${call.name}" is not available to this agent`]);
  const parsed = parseToolArguments(parameters, call.arguments);
  if (!parsed.ok) return invalid(placed, parsed.problems);
  return { ...placed, valid: true, tool: call.name, policy: granted, args: parsed.args, risk: approvalRequirement(granted, parsed.args) };
}

/** The schema the tool's arguments are checked against: the bundle's pin, or for runs from before pinning the tool as it was then. */
export function parametersOf(tool: ToolPolicy): JsonSchema | undefined {
  return tool.parameters ?? (Object.hasOwn(legacyToolPins, tool.name) ? legacyToolPins[tool.name]!.parameters : undefined);
}

function invalid(placed: PlacedCall, problems: string[]): RefusedCall {
  return { ...placed, valid: false, status: 'invalid_arguments', message: `invalid tool call: ${problems.join('; ')}` };
}
