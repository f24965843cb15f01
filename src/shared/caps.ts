import type { RunPolicy, RunStatus, Usage } from './domain';
import type { capErrorCodes } from './runErrors';

export interface RunCounters {
  step: number;
  usage: Usage;
  toolCalls: number;
}

export interface CapReached {
  status: Extract<RunStatus, 'step_limit' | 'budget_exceeded'>;
  error: string;
  errorCode: (typeof capErrorCodes)[number];
}

/** The first of the run's ceilings it has reached, checked before every model call. */
export function capReached(policy: RunPolicy, counters: RunCounters): CapReached | undefined {
  if (counters.step >= policy.maxSteps) {
    return { status: 'step_limit', errorCode: 'step_limit', error: `step limit of ${policy.maxSteps} reached without a final answer` };
  }
  const tokens = counters.usage.inputTokens + counters.usage.outputTokens;
  if (policy.maxTotalTokens !== undefined && tokens >= policy.maxTotalTokens) {
    return { status: 'budget_exceeded', errorCode: 'token_limit', error: `token limit of ${policy.maxTotalTokens} reached (${tokens} used)` };
  }
  if (policy.maxCostUsd !== undefined && counters.usage.costUsd >= policy.maxCostUsd) {
    return { status: 'budget_exceeded', errorCode: 'cost_limit', error: `cost limit of $${policy.maxCostUsd} reached ($${counters.usage.costUsd} spent)` };
  }
  return undefined;
}

/** Whether running `requested` more tool calls would pass the run's tool-call ceiling. */
export function toolCallCapReached(policy: RunPolicy, toolCalls: number, requested: number): CapReached | undefined {
  if (policy.maxToolCalls === undefined || toolCalls + requested <= policy.maxToolCalls) return undefined;
  return { status: 'budget_exceeded', errorCode: 'tool_call_limit', error: `tool call limit of ${policy.maxToolCalls} reached` };
}
