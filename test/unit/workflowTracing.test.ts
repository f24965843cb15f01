/**
 * The workflow tracing gate (src/workflows/tracing.ts) stands in for the span interceptors it loads
 * only into traced workflows: it must know every interceptor method they implement, and the header
 * Temporal's interceptors carry the trace in. Traced runs themselves: test/e2e/traces.test.ts.
 */
import {
  OpenTelemetryInboundInterceptor, OpenTelemetryInternalsInterceptor, OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry-v2/lib/workflow';
import { TRACE_HEADER as temporalTraceHeader } from '@temporalio/interceptors-opentelemetry-v2/lib/instrumentation';
import { describe, expect, it } from 'vitest';
import { spanInterceptorMethods, TRACE_HEADER } from '../../src/workflows/tracing';
import { ApprovalRequests, RunSpan } from '../../src/workflows/tracingSpans';

const methodsOf = (cls: { prototype: object }) => Object.getOwnPropertyNames(cls.prototype).filter((name) => name !== 'constructor').sort();

describe('the workflow tracing gate', () => {
  it("reads the trace from Temporal's own header", () => {
    expect(TRACE_HEADER).toBe(temporalTraceHeader);
  });

  it.each([
    ['temporalInbound', OpenTelemetryInboundInterceptor],
    ['temporalOutbound', OpenTelemetryOutboundInterceptor],
    ['temporalInternals', OpenTelemetryInternalsInterceptor],
    ['runSpan', RunSpan],
    ['approvalRequests', ApprovalRequests],
  ] as const)('stands in for every method of %s', (kind, cls) => {
    expect([...spanInterceptorMethods[kind]].sort()).toEqual(methodsOf(cls));
  });
});
