/**
 * Traces end to end: the demo run (a tool call, an approval, a worker restart while it waits),
 * started through the API, reaches an OTLP receiver the test runs as ONE trace, from `POST /v1/runs`
 * through the workflow into every model and tool call, with the GenAI spans and attributes of
 * src/shared/genaiAttributes.ts; and by default no message content nor secret is on any span.
 */
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowInterceptorModules } from '../../src/worker/workflowBundle';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlpReceiver';
import { startTestStack, type TestStack } from '../support/testStack';

const OTLP_TOKEN = 'otlp-token-5ecret-do-not-leak';
const TOOL_SECRET = 'tool-secret-value-never-on-a-span';

describe('traces: one trace per run, with the GenAI spans', () => {
  let receiver: OtlpReceiver;
  let stack: TestStack;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startTestStack({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${OTLP_TOKEN}`,
        OTEL_SEMCONV_STABILITY_OPT_IN: 'gen_ai_latest_experimental',
        // A secret the worker holds: it must never reach a span.
        BOSUN_SECRET_TRACE_TEST: TOOL_SECRET,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  /** Waits until the run's spans named `names` have all arrived (batches leave every few seconds). */
  async function spansOfRun(runId: string, names: string[], timeoutMs = 90_000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const start = receiver.spans.find((s) => s.attributes['bosun.run.id'] === runId);
      const trace = start ? receiver.spans.filter((s) => s.traceId === start.traceId) : [];
      if (names.every((n) => trace.some((s) => s.name === n))) return trace;
      if (Date.now() > deadline) throw new Error(`spans missing: ${names.filter((n) => !trace.some((s) => s.name === n)).join(', ')}; got ${trace.map((s) => s.name).join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('follows a demo run with a tool call, an approval and a worker restart as one trace', async () => {
    const runId = await stack.startRun('Refund order 1001');
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    // The worker that started the run goes away while it waits; another replays it and carries on.
    await stack.worker.stop();
    await stack.startWorker();
    expect((await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'approve')).status).toBe(202);
    const done = await stack.waitForStatus(runId, 'completed');

    const trace = await spansOfRun(runId, [
      'POST /v1/runs', 'StartWorkflow:agentRun', 'RunWorkflow:agentRun', 'invoke_agent support',
      'execute_tool lookup_order', 'execute_tool issue_refund', 'approval issue_refund',
    ]);
    const one = (name: string) => {
      const found = trace.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };
    const parentOf = (span: ReceivedSpan) => trace.find((s) => s.spanId === span.parentSpanId);

    // Each span once: the restarted worker replayed the run without exporting its spans again.
    expect(new Set(trace.map((s) => s.spanId)).size).toBe(trace.length);

    const request = one('POST /v1/runs');
    expect(request.parentSpanId).toBeUndefined();
    expect(request.resource['service.name']).toBe('bosun-api');
    expect(request.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/runs', 'http.response.status_code': 202 });
    const start = one('StartWorkflow:agentRun');
    expect(start.parentSpanId).toBe(request.spanId);
    const workflow = one('RunWorkflow:agentRun');
    expect(workflow.parentSpanId).toBe(start.spanId);
    expect(workflow.resource['service.name']).toBe('bosun-worker');

    const agent = one('invoke_agent support');
    expect(agent.parentSpanId).toBe(workflow.spanId);
    expect(agent.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'support', 'gen_ai.conversation.id': runId,
      'bosun.run.id': runId, 'bosun.tenant.id': stack.tenantId, 'bosun.bundle.id': done.bundleId, 'bosun.run.status': 'completed',
      'gen_ai.usage.input_tokens': done.usage.inputTokens, 'gen_ai.usage.output_tokens': done.usage.outputTokens,
      'bosun.cost_usd': done.usage.costUsd,
    });

    // Model calls: chat {model} under the callModel activity, under the run.
    const chats = trace.filter((s) => s.name === 'chat gpt-4o-mini');
    expect(chats).toHaveLength(3);
    for (const chat of chats) {
      expect(parentOf(chat)?.name).toBe('RunActivity:callModel');
      expect(parentOf(parentOf(chat)!)?.name).toBe('StartActivity:callModel');
      expect(parentOf(parentOf(chat)!)?.parentSpanId).toBe(agent.spanId);
      expect(chat.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.response.model': 'gpt-4o-mini', 'gen_ai.conversation.id': runId, 'bosun.run.id': runId,
        'bosun.tenant.id': stack.tenantId, 'bosun.bundle.id': done.bundleId, 'server.address': '127.0.0.1',
      });
      expect(chat.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(chat.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(chat.attributes['gen_ai.usage.cache_read.input_tokens']).toEqual(expect.any(Number));
      expect(chat.attributes['bosun.cost_usd']).toBeGreaterThan(0);
      // Only the latest names were asked for.
      expect(chat.attributes['gen_ai.system']).toBeUndefined();
    }
    const modelSteps = done.steps.filter((s: any) => s.kind === 'model');
    expect(chats.map((c) => c.attributes['gen_ai.usage.input_tokens']).sort()).toEqual(modelSteps.map((s: any) => s.inputTokens).sort());
    expect(chats.map((c) => c.attributes['gen_ai.response.finish_reasons'])).toEqual(
      expect.arrayContaining([['tool_calls'], ['tool_calls'], ['stop']]),
    );

    // Tool calls: execute_tool {tool} under the executeTool activity, under the run.
    // The call the approval was about is the call that ran.
    const approvedCallId = one('approval issue_refund').attributes['gen_ai.tool.call.id'];
    expect(approvedCallId).toMatch(/^call_/);
    for (const [tool, callId] of [['lookup_order', expect.stringMatching(/^call_/)], ['issue_refund', approvedCallId]] as const) {
      const span = one(`execute_tool ${tool}`);
      expect(parentOf(span)?.name).toBe('RunActivity:executeTool');
      expect(parentOf(parentOf(span)!)?.parentSpanId).toBe(agent.spanId);
      expect(span.attributes).toMatchObject({
        'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, 'gen_ai.tool.call.id': callId,
        'bosun.run.id': runId, 'bosun.tool.status': 'ok',
      });
      expect(span.attributes['error.type']).toBeUndefined();
    }

    // The approval wait, with who decided, under the run, from request to decision.
    const approval = one('approval issue_refund');
    expect(approval.parentSpanId).toBe(agent.spanId);
    expect(approval.attributes).toMatchObject({
      'gen_ai.tool.name': 'issue_refund', 'gen_ai.tool.call.id': approvedCallId, 'bosun.approval.id': parked.pendingApprovals[0].approvalId,
      'bosun.approval.decision': 'approved', 'bosun.approval.decided_by': done.approvals[0].decidedBy,
    });
    expect(approval.startMs).toBe(Date.parse(parked.pendingApprovals[0].requestedAt));
    expect(approval.endMs).toBeGreaterThanOrEqual(approval.startMs);
    expect(one('execute_tool issue_refund').startMs).toBeGreaterThanOrEqual(approval.endMs);

    // The traced run's history (trace context in its headers) replays with the interceptors: tracing adds no command.
    const history = await stack.temporal.workflow.getHandle(runId).fetchHistory();
    expect(history.events!.some((e) => e.activityTaskScheduledEventAttributes?.header?.fields?.['_tracer-data'])).toBe(true);
    await Worker.runReplayHistory({
      workflowsPath: path.resolve(__dirname, '../../src/workflows/index.ts'), interceptors: { workflowModules: workflowInterceptorModules() },
    }, history, runId);

    // OTEL_EXPORTER_OTLP_HEADERS reached the receiver.
    expect(receiver.requests.every((h) => h.authorization === `Bearer ${OTLP_TOKEN}`)).toBe(true);
  });

  it('puts no message content and no secret on any span by default', async () => {
    const input = 'Refund order 1002, my card is 4111 1111 1111 1111';
    const runId = await stack.startRun(input);
    const parked = await stack.waitForStatus(runId, 'awaiting_approval');
    await stack.decide(runId, parked.pendingApprovals[0].approvalId, 'reject');
    const done = await stack.waitForStatus(runId, 'completed');
    await spansOfRun(runId, ['invoke_agent support', 'chat gpt-4o-mini', 'execute_tool lookup_order', 'approval issue_refund']);

    const everything = receiver.raw.join('\n');
    const attributeNames = new Set(receiver.spans.flatMap((s) => Object.keys(s.attributes)));
    for (const contentAttribute of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result']) {
      expect(attributeNames.has(contentAttribute), contentAttribute).toBe(false);
    }
    for (const text of [input, '4111 1111 1111 1111', done.output, 'Grace Hopper', stack.apiKey, OTLP_TOKEN, TOOL_SECRET]) {
      expect(everything.includes(text), `"${text}" is on a span`).toBe(false);
    }
  });
});

describe('traces with message content captured', () => {
  let receiver: OtlpReceiver;
  let stack: TestStack;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startTestStack({
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('puts the messages and tool calls on spans, through the redaction', async () => {
    const runId = await stack.startRun('Refund order 1001');
    await stack.waitForStatus(runId, 'awaiting_approval');
    const deadline = Date.now() + 90_000;
    const ofRun = () => receiver.spans.filter((s) => s.attributes['bosun.run.id'] === runId);
    const apiSpan = () => receiver.spans.some((s) => s.name === 'POST /v1/runs' && s.resource['service.name'] === 'bosun-api');
    while (!(apiSpan() && ofRun().some((s) => s.name === 'execute_tool lookup_order') && ofRun().filter((s) => s.name === 'chat gpt-4o-mini').length >= 2)) {
      if (Date.now() > deadline) throw new Error(`spans missing; got ${ofRun().map((s) => s.name).join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const [firstChat] = ofRun().filter((s) => s.name === 'chat gpt-4o-mini').sort((a, b) => a.startMs - b.startMs);
    const input = JSON.parse(firstChat!.attributes['gen_ai.input.messages'] as string);
    expect(input).toContainEqual({ role: 'user', parts: [{ type: 'text', content: 'Refund order 1001' }] });
    expect(JSON.parse(firstChat!.attributes['gen_ai.output.messages'] as string)[0].parts[0]).toMatchObject({ type: 'tool_call', name: 'lookup_order' });
    // Without the semconv opt-in the v1.36 name rides along.
    expect(firstChat!.attributes['gen_ai.system']).toBe('openai');

    const lookup = ofRun().find((s) => s.name === 'execute_tool lookup_order')!;
    expect(JSON.parse(lookup.attributes['gen_ai.tool.call.arguments'] as string)).toEqual({ order_id: '1001' });
    const result = JSON.parse(lookup.attributes['gen_ai.tool.call.result'] as string);
    // lookup_order's own redaction rule (examples/support-tools) hides the customer, as in the audit log.
    expect(result).toMatchObject({ order_id: '1001', customer: '[redacted]' });
    expect(receiver.raw.join('\n')).not.toContain('Ada Lovelace');
    // The API's own spans arrived too (the wait above): tracing started again in this process after the first stack's ended.
  });
});
