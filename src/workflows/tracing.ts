/**
 * The workflow interceptors of every bundle (src/worker/workflowBundle.ts): a gate in front of the
 * span interceptors of ./tracingSpans.ts (Temporal's OpenTelemetry ones and Bosun's GenAI spans).
 *
 * Only a workflow started with a trace context (by a client that traces, such as the API with OTEL_*
 * set) is traced: any other runs as if none of this were there, writing no trace headers into its
 * history, so a deployment without tracing keeps the histories it had. Temporal's SDK evaluates the
 * modules a workflow imports once per workflow (each cached run keeps its own), so ./tracingSpans.ts,
 * and OpenTelemetry with it, is loaded only once a workflow turns out to be traced: an untraced run
 * spends no CPU or memory on a tracer it will not use.
 */
import { workflowInfo, type Next, type WorkflowExecuteInput, type WorkflowInboundCallsInterceptor, type WorkflowInterceptors } from '@temporalio/workflow';
import type { SpanInterceptors } from './tracingSpans';

/** The header Temporal's OpenTelemetry interceptors carry the trace context in (their TRACE_HEADER; test/unit/workflowTracing.test.ts keeps the two equal). */
export const TRACE_HEADER = '_tracer-data';

/**
 * The interceptor methods each span interceptor implements: the gate stands in for every one of
 * them (test/unit/workflowTracing.test.ts checks them against the classes).
 */
export const spanInterceptorMethods = {
  temporalInbound: ['execute', 'handleSignal', 'handleUpdate', 'validateUpdate', 'handleQuery'],
  temporalOutbound: [
    'scheduleActivity', 'scheduleLocalActivity', 'startNexusOperation', 'startChildWorkflowExecution', 'continueAsNew', 'signalWorkflow',
    'getLogAttributes', 'getMetricTags',
  ],
  temporalInternals: ['dispose'],
  runSpan: ['execute', 'handleSignal'],
  approvalRequests: ['scheduleActivity', 'scheduleLocalActivity'],
} as const satisfies Record<keyof SpanInterceptors, readonly string[]>;

/** Whether this workflow is traced, and its span interceptors once it is. */
interface Gate {
  traced: boolean;
  spans?: SpanInterceptors;
}

export const interceptors = (): WorkflowInterceptors => {
  const gate: Gate = { traced: false };
  const stand = (kind: keyof SpanInterceptors) => standIn(gate, kind, spanInterceptorMethods[kind]);
  const agentRun = workflowInfo().workflowType === 'agentRun';
  return {
    inbound: [new TraceGate(gate), stand('temporalInbound'), ...(agentRun ? [stand('runSpan')] : [])],
    outbound: [stand('temporalOutbound'), ...(agentRun ? [stand('approvalRequests')] : [])],
    internals: [stand('temporalInternals')],
  };
};

/** Decides, from the start's headers, whether this workflow is traced (it runs first, before any other interceptor). */
class TraceGate implements WorkflowInboundCallsInterceptor {
  constructor(private readonly gate: Gate) {}

  execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    this.gate.traced = TRACE_HEADER in input.headers;
    return next(input);
  }
}

/**
 * An interceptor with `methods`, each passing straight on (`next(input)`) unless the workflow is
 * traced, and then calling the span interceptor `kind`, loaded and built on first use.
 */
function standIn(gate: Gate, kind: keyof SpanInterceptors, methods: readonly string[]): object {
  const target = () => {
    // Loaded here, not imported above: see the top of this file.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    gate.spans ??= (require('./tracingSpans') as typeof import('./tracingSpans')).spanInterceptors();
    return gate.spans[kind] as unknown as Record<string, (input: unknown, next: unknown) => unknown>;
  };
  const call = (name: string, input: unknown, next: unknown) => {
    const interceptor = target();
    return interceptor[name]!.call(interceptor, input, next);
  };
  return Object.fromEntries(methods.map((name) => [
    name,
    (input: unknown, next: (input: unknown) => unknown) => (gate.traced ? call(name, input, next) : next(input)),
  ]));
}
