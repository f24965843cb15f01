/**
 * Every span name and attribute name Bosun's traces use, in one place. The OpenTelemetry GenAI
 * semantic conventions (gen_ai.*) are still marked Development and keep moving, and their names left
 * @opentelemetry/semantic-conventions, so Bosun pins its own copy here: the current names, those that
 * replaced the v1.36 ones (gen_ai.provider.name, gen_ai.input.messages, ...), and
 * gen_ai.usage.cache_read.input_tokens. Pure: the workflow's interceptors import it too.
 *
 * OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental emits only these names; without it a
 * span also carries the v1.36 name where one was renamed (`gen_ai.system` beside
 * `gen_ai.provider.name`), so dashboards built on the older name keep working (`providerAttributes`).
 */

export const GenAi = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  /** The v1.36 name of gen_ai.provider.name, emitted beside it unless gen_ai_latest_experimental is opted in. */
  legacySystem: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  requestTemperature: 'gen_ai.request.temperature',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  responseFinishReasons: 'gen_ai.response.finish_reasons',
  usageInputTokens: 'gen_ai.usage.input_tokens',
  usageOutputTokens: 'gen_ai.usage.output_tokens',
  usageCacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  toolType: 'gen_ai.tool.type',
  toolCallArguments: 'gen_ai.tool.call.arguments',
  toolCallResult: 'gen_ai.tool.call.result',
  agentName: 'gen_ai.agent.name',
  conversationId: 'gen_ai.conversation.id',
  inputMessages: 'gen_ai.input.messages',
  outputMessages: 'gen_ai.output.messages',
} as const;

/** General OpenTelemetry names Bosun's spans use beside the GenAI ones. */
export const Otel = {
  errorType: 'error.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  httpRequestMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpResponseStatusCode: 'http.response.status_code',
  /** The run's environment (`production`, `staging`): OpenTelemetry's deployment attribute, on the run's spans rather than the resource, since one process serves both. */
  deploymentEnvironmentName: 'deployment.environment.name',
} as const;

/** Bosun's own attributes. */
export const Bosun = {
  tenantId: 'bosun.tenant.id',
  bundleId: 'bosun.bundle.id',
  runId: 'bosun.run.id',
  step: 'bosun.step',
  costUsd: 'bosun.cost_usd',
  runStatus: 'bosun.run.status',
  toolStatus: 'bosun.tool.status',
  approvalId: 'bosun.approval.id',
  approvalDecision: 'bosun.approval.decision',
  approvalDecidedBy: 'bosun.approval.decided_by',
} as const;

/** gen_ai.operation.name values. */
export const GenAiOperation = { chat: 'chat', executeTool: 'execute_tool', invokeAgent: 'invoke_agent' } as const;

/** Span names: `{operation} {subject}`, as the conventions ask. */
export const spanNames = {
  chat: (model: string) => `${GenAiOperation.chat} ${model}`,
  executeTool: (tool: string) => `${GenAiOperation.executeTool} ${tool}`,
  invokeAgent: (agent: string) => `${GenAiOperation.invokeAgent} ${agent}`,
  /** A tool call waiting for a human's decision (not a GenAI convention: Bosun's own). */
  approval: (tool: string) => `approval ${tool}`,
} as const;

/** The provider of an OpenAI-compatible endpoint: the conventions say `openai` when the OpenAI protocol is spoken. */
export const OPENAI_PROVIDER = 'openai';

/** The provider's name under the current name, and under the v1.36 one unless only the latest names are wanted. */
export function providerAttributes(provider: string, latestOnly: boolean): Record<string, string> {
  return latestOnly ? { [GenAi.providerName]: provider } : { [GenAi.providerName]: provider, [GenAi.legacySystem]: provider };
}

/** The run's identity on every span of it, and its environment when known. */
export function runAttributes(run: { runId: string; tenantId: string; bundleId: string; environment?: string }): Record<string, string> {
  return {
    [Bosun.runId]: run.runId, [Bosun.tenantId]: run.tenantId, [Bosun.bundleId]: run.bundleId,
    ...(run.environment && { [Otel.deploymentEnvironmentName]: run.environment }),
  };
}
