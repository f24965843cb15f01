/**
 * Runs one golden case as a real Bosun run: `POST /v1/runs` pinned to the bundle under test, with
 * the case's tapes (a sandbox run: no tool runs live), then follows the run, answering each
 * approval as the case says, until it ends.
 */
import { terminalStatuses } from '../../shared/domain';
import { runInputOf, type CaseApproval, type GoldenCase } from '../../shared/evals/goldenCase';
import { CliError, answer, type ApiClient, type Schemas } from '../apiClient';

type RunView = Schemas['RunView'];

export interface CaseTarget {
  agent: string;
  bundleId: string;
}

export interface RunOptions {
  /** Between two reads of the run, in milliseconds. */
  pollMs?: number;
  /** How long a run may take before the eval gives up on it (an infrastructure error), in milliseconds. */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The body of the decision the case gives for `pending`; a call the case does not expect is rejected. */
export function decisionFor(pending: RunView['pendingApprovals'][number], planned: CaseApproval | undefined): Schemas['ApprovalDecisionRequest'] {
  if (!planned) return { decision: 'reject', comment: `bosun eval: the case expects no approval of ${pending.tool} here` };
  const comment = planned.comment ?? `bosun eval: ${planned.decision} as the case says`;
  if (planned.decision === 'edit') return { decision: 'approve', arguments: planned.arguments, comment };
  return { decision: planned.decision, comment };
}

/**
 * Starts the case's run and follows it to its end; resolves to the finished run. Throws a
 * CliError when the API refuses or the run outlives `timeoutMs`.
 */
export async function runCase(api: ApiClient, c: GoldenCase, target: CaseTarget, options: RunOptions = {}): Promise<RunView> {
  const { pollMs = 200, timeoutMs = 10 * 60_000 } = options;
  const body: Schemas['CreateRunRequest'] = {
    agent: target.agent,
    bundleId: target.bundleId,
    input: runInputOf(c),
    sandbox: true,
    tapes: c.tapes,
    metadata: { eval_case: c.id },
  };
  const { runId } = await answer(api.POST('/v1/runs', { body }));
  const planned = [...c.approvals];
  const decided = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await answer(api.GET('/v1/runs/{runId}', { params: { path: { runId } } }));
    if (terminalStatuses.includes(run.status)) return run;
    for (const pending of run.pendingApprovals.filter((p) => !decided.has(p.approvalId))) {
      const index = planned.findIndex((a) => a.tool === pending.tool);
      const [plan] = index >= 0 ? planned.splice(index, 1) : [undefined];
      decided.add(pending.approvalId);
      const decision = { params: { path: { runId, approvalId: pending.approvalId } }, body: decisionFor(pending, plan) };
      await api.POST('/v1/runs/{runId}/approvals/{approvalId}', decision).catch((err: unknown) => {
        // Decided already (a repeated read raced the decision): the run goes on either way.
        if (!(err instanceof CliError && err.status === 409)) throw err;
      });
    }
    if (Date.now() > deadline) throw new CliError(`run ${runId} of case ${c.id} did not end within ${Math.round(timeoutMs / 1000)} s (it is ${run.status})`);
    await sleep(pollMs);
  }
}
