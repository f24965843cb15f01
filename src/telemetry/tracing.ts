/**
 * The process's OpenTelemetry tracer provider, wired by hand (no sdk-node): spans are batched and
 * exported over OTLP/HTTP (protobuf or JSON) to the endpoint the standard OTEL_* variables name
 * (src/config.ts reads them), and Temporal's OpenTelemetry interceptors (the OTel JS 2.x line,
 * @temporalio/interceptors-opentelemetry-v2, docs/observability.md says why) carry the trace from
 * the API's client through the workflow into every activity. Workflow code cannot export: its spans
 * leave the workflow sandbox through the `exporter` sink into the same span processor, and only when
 * not replaying, so a worker restart never exports a span twice.
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpHttpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { makeWorkflowExporter, OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry-v2';
import type { WorkerOptions } from '@temporalio/worker';
import type { TraceExport, TracingConfig } from '../config';

/** What activities need to know to shape their GenAI spans (src/activities/model/chatSpan.ts, src/activities/toolCalls.ts). */
export interface GenAiSpanSettings {
  /** Messages, tool arguments and results on spans (after redaction); off by default. */
  captureMessageContent: boolean;
  /** Only the latest GenAI attribute names (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental). */
  latestOnly: boolean;
}

export interface Tracing {
  /** False when no exporter is configured: spans are not recorded and nothing is sent. */
  enabled: boolean;
  genai: GenAiSpanSettings;
  /** The Temporal plugin (client and worker interceptors) when enabled: `plugins` of a Client or Worker. */
  plugins: OpenTelemetryPlugin[];
  /**
   * A worker's part: the plugin when enabled; otherwise only a workflow span sink that drops what it
   * gets, since the workflow bundle always has the tracing interceptors (src/worker/workflowBundle.ts).
   */
  workerOptions: Pick<WorkerOptions, 'plugins' | 'sinks'>;
  /** Exports what is still batched and stops; call once when the process stops. */
  shutdown(): Promise<void>;
}

/** Bosun's tracer for the spans it makes itself (API requests, GenAI spans in activities). */
export const bosunTracer = (): Tracer => trace.getTracer('bosun');

let current: Tracing | undefined;

/**
 * Starts tracing for this process as `config` says, `serviceName` (e.g. `bosun-worker`) naming it
 * unless OTEL_SERVICE_NAME does. When enabled it registers the global tracer provider, so until its
 * shutdown a second call returns the first one's Tracing.
 */
export function startTracing(config: TracingConfig, serviceName: string): Tracing {
  const genai = { captureMessageContent: config.captureMessageContent, latestOnly: config.genaiLatestOnly };
  const resource = resourceFromAttributes({ ...config.export?.resourceAttributes, 'service.name': config.export?.serviceName ?? serviceName });
  if (!config.export) {
    return {
      enabled: false, genai, plugins: [],
      workerOptions: { sinks: { exporter: makeWorkflowExporter(new NoopSpanProcessor(), resource) } },
      shutdown: async () => undefined,
    };
  }
  if (current) return current;
  const spanProcessor = new BatchSpanProcessor(exporterFor(config.export));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // The global provider, context manager (AsyncLocalStorage) and W3C propagator.
  provider.register();
  const plugin = new OpenTelemetryPlugin({ resource, spanProcessor });
  current = {
    enabled: true, genai, plugins: [plugin], workerOptions: { plugins: [plugin] },
    shutdown: async () => {
      await provider.shutdown();
      // Unregistered, so a later startTracing in this process (a test's next stack) can register its own.
      trace.disable();
      context.disable();
      propagation.disable();
      current = undefined;
    },
  };
  return current;
}

function exporterFor({ url, protocol, headers, timeoutMs }: TraceExport) {
  const options = { url, headers, ...(timeoutMs !== undefined && { timeoutMillis: timeoutMs }) };
  return protocol === 'http/json' ? new OtlpHttpJsonExporter(options) : new OtlpHttpProtobufExporter(options);
}
