/**
 * The span-making half of the workflow tracing interceptors (./tracing.ts): Temporal's OpenTelemetry
 * workflow interceptors, which carry the trace through the workflow into its activities, and
 * Bosun's, which give an agent run its GenAI spans inside the workflow:
 *
 * - `invoke_agent {agent}`, the run, child of Temporal's `RunWorkflow:agentRun` span and parent of
 *   every activity the run schedules, with the run's usage and cost at its end;
 * - `approval {tool}`, from the moment a call is put to a human (the `requestApprovals` activity)
 *   until the `approvalDecided` signal (with who decided) or the expiry (`expireApproval`).
 *
 * Loaded only into the sandbox of a workflow that is traced (./tracing.ts), so an untraced run
 * evaluates none of OpenTelemetry's modules. Deterministic, like all workflow code: span and trace
 * IDs come from the OTel interceptors' own named random stream, times are workflow time, and spans
 * leave through the interceptors' sink, which is not called while replaying. A worker that replays
 * a run after a restart rebuilds the same open spans with the same IDs and ends them once, when the
 * run gets there. Commands are untouched (no activity, timer or yield is added).
 */
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import {
  ContinueAsNew,
  workflowInfo,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type SignalInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInternalsInterceptor,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { interceptors as openTelemetryInterceptors } from '@temporalio/interceptors-opentelemetry-v2/lib/workflow-interceptors';
import type { AgentRunInput, ApprovalDecidedSignal, ApprovalDecision, PendingApproval, RunOutcome } from '../shared/domain';
import { Bosun, GenAi, GenAiOperation, Otel, runAttributes, spanNames } from '../shared/genaiAttributes';
import { EnvironmentKey } from '../shared/searchAttributes';

/** The tracer Temporal's workflow interceptors registered in this workflow's sandbox (they come first). */
const tracer = () => trace.getTracer('bosun-workflow');

/** What the run's interceptors share: the run span's context, and the approvals still waiting. */
interface RunTrace {
  runContext: Context | undefined;
  approvals: Map<string, Span>;
}

/** One workflow's span interceptors, one of each kind: Temporal's, then (agent runs only) Bosun's. */
export interface SpanInterceptors {
  temporalInbound: WorkflowInboundCallsInterceptor;
  temporalOutbound: WorkflowOutboundCallsInterceptor;
  temporalInternals: WorkflowInternalsInterceptor;
  runSpan?: RunSpan;
  approvalRequests?: ApprovalRequests;
}

/** Builds this workflow's span interceptors (Temporal's tracer starts here, in its sandbox). */
export function spanInterceptors(): SpanInterceptors {
  const otel = openTelemetryInterceptors();
  const temporal = { temporalInbound: otel.inbound![0]!, temporalOutbound: otel.outbound![0]!, temporalInternals: otel.internals![0]! };
  if (workflowInfo().workflowType !== 'agentRun') return temporal;
  const state: RunTrace = { runContext: undefined, approvals: new Map() };
  return { ...temporal, runSpan: new RunSpan(state), approvalRequests: new ApprovalRequests(state) };
}

export class RunSpan implements WorkflowInboundCallsInterceptor {
  constructor(private readonly state: RunTrace) {}

  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const run = input.args[0] as AgentRunInput;
    const attributes = {
      [GenAi.operationName]: GenAiOperation.invokeAgent,
      [GenAi.agentName]: run.agent,
      // A run's transcript is its conversation.
      [GenAi.conversationId]: run.runId,
      // Set when the run started (runs from before environments have none: production's).
      ...runAttributes({ ...run, environment: workflowInfo().typedSearchAttributes.get(EnvironmentKey) ?? 'production' }),
    };
    return tracer().startActiveSpan(spanNames.invokeAgent(run.agent), { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      this.state.runContext = context.active();
      try {
        const outcome = (await next(input)) as RunOutcome;
        endRunSpan(span, outcome);
        return outcome;
      } catch (err) {
        // Continuing as new is not a failure: the next execution carries the run on.
        if (!(err instanceof ContinueAsNew)) span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, errorTypeOf(err));
        throw err;
      } finally {
        for (const waiting of this.state.approvals.values()) waiting.setAttribute(Bosun.approvalDecision, 'undecided').end();
        this.state.approvals.clear();
        span.end();
      }
    });
  }

  async handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    if (input.signalName === 'approvalDecided') {
      const { approvalId, decision, decidedBy } = input.args[0] as ApprovalDecidedSignal;
      endApproval(this.state, approvalId, decision, decidedBy);
    }
    return next(input);
  }
}

function endRunSpan(span: Span, outcome: RunOutcome): void {
  span.setAttributes({
    [Bosun.runStatus]: outcome.status,
    [GenAi.usageInputTokens]: outcome.usage.inputTokens,
    [GenAi.usageOutputTokens]: outcome.usage.outputTokens,
    [Bosun.costUsd]: outcome.usage.costUsd,
  });
  if (outcome.errorCode) span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(Otel.errorType, outcome.errorCode);
}

export class ApprovalRequests implements WorkflowOutboundCallsInterceptor {
  constructor(private readonly state: RunTrace) {}

  scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>): Promise<unknown> {
    return aroundApprovals(this.state, input, () => next(input));
  }

  scheduleLocalActivity(input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>): Promise<unknown> {
    return aroundApprovals(this.state, input, () => next(input));
  }
}

/** Bosun's approval bookkeeping (src/workflows/agentRun/approvalGate.ts) opens and closes the approval spans. */
async function aroundApprovals(state: RunTrace, input: ActivityInput | LocalActivityInput, schedule: () => Promise<unknown>): Promise<unknown> {
  if (input.activityType === 'requestApprovals') {
    const { approvals } = input.args[0] as { approvals: PendingApproval[] };
    for (const approval of approvals) openApproval(state, approval);
    return schedule();
  }
  if (input.activityType !== 'expireApproval') return schedule();
  const stored = (await schedule()) as ApprovalDecision;
  const { approvalId } = input.args[0] as { approvalId: string };
  // A rejection here is the expiry's own; an approval is a human's decision that reached the database just in time.
  endApproval(state, approvalId, stored === 'rejected' ? 'expired' : stored, undefined);
  return stored;
}

function openApproval(state: RunTrace, approval: PendingApproval): void {
  const attributes = {
    [GenAi.toolName]: approval.tool,
    [GenAi.toolCallId]: approval.toolCallId,
    [Bosun.approvalId]: approval.approvalId,
  };
  const span = tracer().startSpan(
    spanNames.approval(approval.tool),
    { kind: SpanKind.INTERNAL, attributes, startTime: Date.parse(approval.requestedAt) },
    state.runContext ?? context.active(),
  );
  state.approvals.set(approval.approvalId, span);
}

function endApproval(state: RunTrace, approvalId: string, decision: string, decidedBy: string | undefined): void {
  const span = state.approvals.get(approvalId);
  if (!span) return;
  state.approvals.delete(approvalId);
  span.setAttribute(Bosun.approvalDecision, decision);
  if (decidedBy !== undefined) span.setAttribute(Bosun.approvalDecidedBy, decidedBy);
  span.end();
}

const errorTypeOf = (err: unknown): string => (err instanceof Error ? err.name : 'unknown');
