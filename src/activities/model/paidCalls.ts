/** Recording a model call the provider answered, and charged for: its step row, the run's totals, the budget. */
import { settleBudget } from '../../db/budgets';
import { afterCommit, type DbClient } from '../../db/pool';
import { addModelCallUsage, countStep, type RunUsage } from '../../db/runs';
import { recordStep } from '../../db/transcript';
import type { CallCost } from '../../shared/pricing';
import { recordModelCall } from '../../telemetry/metrics';

/** A model call the provider answered (and charged for). */
export interface PaidCall {
  runId: string;
  tenantId: string;
  bundleId: string;
  step: number;
  /** The model that answered (the routed one, or the summary model). */
  model: string;
  reservationId: string;
  latencyMs: number;
  cost: CallCost;
}

export interface PaidStepRow {
  /** 0 for the step's reply, -1 for its context summary, below for its unusable replies. */
  ordinal: number;
  status: string;
  detail: Record<string, unknown>;
  /** Characters already replaced in what the row records (src/shared/storable.ts). */
  replacedCharacters: number;
  /** The call answers the step (its reply, usable or not), so the run counts the step; a summary does not. */
  countsStep: boolean;
}

/**
 * A paid call's step row, added to the run's totals, its budget reservation settled with the real
 * cost, in the caller's transaction (which holds the run open). Returns the run's new totals.
 */
export async function recordPaidStep(client: DbClient, call: PaidCall, row: PaidStepRow): Promise<RunUsage> {
  const { runId, tenantId, bundleId, step, model, reservationId, latencyMs, cost } = call;
  const { usage } = cost;
  await recordStep(client, runId, {
    step, ordinal: row.ordinal, kind: 'model', name: model, status: row.status, bundleId, detail: row.detail,
    replacedCharacters: row.replacedCharacters, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, costUsd: usage.costUsd, latencyMs,
  });
  if (row.countsStep) await countStep(client, runId, step);
  const { total, environment } = await addModelCallUsage(client, runId, { step, ordinal: row.ordinal }, cost);
  await settleBudget(client, tenantId, reservationId, usage.costUsd);
  afterCommit(client, () => recordModelCall({ bundleId, tenantId, environment, latencyMs, costUsd: usage.costUsd, tokens: tokensOf(cost) }));
  return total;
}

/** A call's tokens as bosun_tokens_total counts them: prompt tokens not read from the cache, those read from it, and all output. */
function tokensOf({ buckets }: CallCost) {
  return { input: buckets.uncachedInput + buckets.cacheWrite, cachedInput: buckets.cachedInput, output: buckets.output + buckets.reasoning };
}
