/**
 * An OpenAI-compatible chat completions server that answers from a script, so the demo and the
 * tests run offline and deterministically over real HTTP; it also serves `/embeddings`
 * (deterministic bag-of-words vectors, see embeddingOf) for memory search with pgvector. Rules map conversation state to tool
 * calls or text; faults script 429s, 500s, hangs and any exact answer (a refusal, a provider's own
 * error body, a reply cut by the token limit).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Matcher {
  /** Role of the conversation's last message. */
  role?: 'user' | 'tool';
  /** For a tool message: the tool whose result it is. */
  tool?: string;
  /** Case-insensitive regex on the last message's text; its groups fill `$1`…`$9` in the reply. */
  matches?: string;
  /** The conversation has at least this many messages, system prompt included. */
  minMessages?: number;
  /** Case-insensitive regex on the conversation's first user message: picks out one run's requests at every step. */
  conversation?: string;
  /**
   * Case-insensitive regex that some message of the conversation (any role, system prompt and
   * summaries included) must match: what the model "remembers"; its groups fill `$S1`…`$S9`.
   */
  seen?: string;
}

export interface ScriptRule {
  when: Matcher;
  /**
   * Text for a final answer, or tool calls whose `arguments` are JSON text templates; with both, the
   * text is what the model says alongside its tool calls.
   */
  reply: { content?: string; toolCalls?: { name: string; arguments: string }[] };
  latencyMs?: number;
  /** For a request with `stream: true`: the pause between two chunks of the answer (one word each), in ms. */
  chunkDelayMs?: number;
}

export interface ScriptedFault {
  when?: Matcher;
  /** HTTP status to answer with, e.g. 429 or 500. */
  status?: number;
  retryAfterSeconds?: number;
  /** Hold the request this long before answering normally: longer than the client's timeout is a timeout. */
  hangMs?: number;
  /** Answer with exactly this instead: any status (200 by default), headers and body (JSON, or text as is). */
  raw?: { status?: number; headers?: Record<string, string>; body: unknown };
  /** How many matching requests get this fault; unlimited when absent. */
  times?: number;
  /**
   * Only every n-th matching request gets the fault (the 1st, the n+1-th, …), deterministically; the
   * others are answered normally (or by a later fault). Every request when absent.
   */
  every?: number;
  /** The fault is active for this long after the script was set (server start or `setScript`); always when absent. */
  forMs?: number;
}

export interface ModelScript {
  rules: ScriptRule[];
  faults?: ScriptedFault[];
  latencyMs?: number;
  /** The rules' chunkDelayMs when they give none. */
  chunkDelayMs?: number;
}

interface ChatMessage {
  role: string;
  content?: string | null;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

interface ChatRequest {
  model?: string;
  messages?: ChatMessage[];
  tools?: unknown[];
  prompt_cache_key?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

export interface RecordedRequest {
  model: string;
  messages: ChatMessage[];
  answeredWith: number;
  /** When it arrived, in epoch milliseconds. */
  at: number;
  /** True once the client went away before the answer (a call cancelled or timed out). */
  aborted?: boolean;
}

export interface ScriptedModelServer {
  url: string;
  /** Every request received, in order, with the status it got. */
  requests: RecordedRequest[];
  setScript(script: ModelScript): void;
  close(): Promise<void>;
}

export async function startScriptedModel(script: ModelScript, port = 0, host = '127.0.0.1'): Promise<ScriptedModelServer> {
  let current = script;
  const faultUses = new Map<ScriptedFault, number>();
  /** Matching requests each fault has seen while active, for `every`. */
  const faultSeen = new Map<ScriptedFault, number>();
  let scriptSetAt = Date.now();
  const promptCache = createPromptCache();
  const requests: RecordedRequest[] = [];

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', async () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      };
      if (req.method === 'POST' && req.url?.endsWith('/embeddings')) return answerEmbeddings(raw, send);
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        return send(404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
      }
      let body: ChatRequest;
      try {
        body = JSON.parse(raw);
      } catch {
        return send(400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      }
      const messages = body.messages ?? [];
      const record: RecordedRequest = { model: body.model ?? '', messages, answeredWith: 200, at: Date.now() };
      requests.push(record);
      res.on('close', () => {
        if (!res.writableFinished) record.aborted = true;
      });

      const fault = (current.faults ?? []).find((f) => {
        if (!matches(f.when ?? {}, messages) || (faultUses.get(f) ?? 0) >= (f.times ?? Infinity)) return false;
        if (f.forMs !== undefined && record.at - scriptSetAt >= f.forMs) return false;
        const seen = faultSeen.get(f) ?? 0;
        faultSeen.set(f, seen + 1);
        return seen % (f.every ?? 1) === 0;
      });
      if (fault) {
        faultUses.set(fault, (faultUses.get(fault) ?? 0) + 1);
        if (fault.hangMs) await sleep(fault.hangMs);
        if (fault.raw) {
          const { status = 200, headers = {}, body: answer } = fault.raw;
          record.answeredWith = status;
          return res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof answer === 'string' ? answer : JSON.stringify(answer));
        }
        if (fault.status) {
          record.answeredWith = fault.status;
          const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
          return send(fault.status, { error: { message: `scripted ${fault.status}`, type: 'scripted_fault' } }, headers);
        }
      }

      const rule = current.rules.find((r) => matches(r.when, messages));
      await sleep(rule?.latencyMs ?? current.latencyMs ?? 0);
      const answer = completion(body, rule, promptCache.cachedTokens(body));
      if (!body.stream) return send(200, answer);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (const chunk of streamChunks(answer, body.stream_options?.include_usage === true)) {
        if (res.destroyed) return;
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        await sleep(rule?.chunkDelayMs ?? current.chunkDelayMs ?? 0);
      }
      res.end('data: [DONE]\n\n');
    });
  });

  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${bound}/v1`,
    requests,
    setScript: (next) => {
      current = next;
      faultUses.clear();
      faultSeen.clear();
      scriptSetAt = Date.now();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function matches(when: Matcher, messages: ChatMessage[]): boolean {
  const last = messages.at(-1);
  if (!last) return false;
  if (when.role && last.role !== when.role) return false;
  if (when.minMessages && messages.length < when.minMessages) return false;
  if (when.tool && toolNameOf(last, messages) !== when.tool) return false;
  if (when.conversation && !new RegExp(when.conversation, 'is').test(messages.find((m) => m.role === 'user')?.content ?? '')) return false;
  if (when.seen && !seenIn(when.seen, messages)) return false;
  return !when.matches || new RegExp(when.matches, 'is').test(last.content ?? '');
}

/** The first match of `pattern` in the conversation's messages, newest first. */
function seenIn(pattern: string, messages: ChatMessage[]): RegExpExecArray | undefined {
  const regex = new RegExp(pattern, 'is');
  for (const m of [...messages].reverse()) {
    const found = regex.exec(typeof m.content === 'string' ? m.content : '');
    if (found) return found;
  }
  return undefined;
}

function toolNameOf(message: ChatMessage, messages: ChatMessage[]): string | undefined {
  if (message.role !== 'tool') return undefined;
  for (const m of messages) {
    const call = m.tool_calls?.find((c) => c.id === message.tool_call_id);
    if (call) return call.function.name;
  }
  return undefined;
}

/**
 * Like a provider's prompt cache: a request whose prefix (system prompt and tools) was seen before
 * under the same `prompt_cache_key` reads that prefix from cache.
 */
function createPromptCache() {
  const seen = new Map<string, string>();
  return {
    cachedTokens(request: ChatRequest): number {
      const system = request.messages?.[0];
      if (!request.prompt_cache_key || system?.role !== 'system') return 0;
      const prefix = JSON.stringify([system, request.tools ?? []]);
      const hit = seen.get(request.prompt_cache_key) === prefix;
      seen.set(request.prompt_cache_key, prefix);
      return hit ? Math.floor(prefix.length / 4) : 0;
    },
  };
}

function completion(request: ChatRequest, rule: ScriptRule | undefined, cachedTokens: number) {
  const messages = request.messages ?? [];
  const captures = rule?.when.matches ? (new RegExp(rule.when.matches, 'is').exec(messages.at(-1)?.content ?? '') ?? []) : [];
  const remembered = rule?.when.seen ? (seenIn(rule.when.seen, messages) ?? []) : [];
  const fill = (template: string) =>
    template.replace(/\$S(\d)/g, (_, n: string) => remembered[Number(n)] ?? '').replace(/\$(\d)/g, (_, n: string) => captures[Number(n)] ?? '');
  const toolCalls = (rule?.reply.toolCalls ?? []).map((c) => ({
    id: `call_${randomBytes(9).toString('base64url')}`,
    type: 'function' as const,
    function: { name: c.name, arguments: fill(c.arguments) },
  }));
  const content = toolCalls.length
    ? (rule?.reply.content !== undefined ? fill(rule.reply.content) : null)
    : fill(rule?.reply.content ?? 'I can help with orders and refunds.');
  // Roughly four characters a token, like real tokenizers on English text.
  const promptTokens = Math.ceil((JSON.stringify(messages).length + JSON.stringify(request.tools ?? []).length) / 4);
  const completionTokens = Math.ceil(((content ?? '').length + JSON.stringify(toolCalls).length) / 4) + 1;
  return {
    id: `chatcmpl-${randomBytes(9).toString('base64url')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model ?? 'scripted',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
        finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: Math.min(cachedTokens, promptTokens) },
    },
  };
}

/**
 * A completion as OpenAI streams it (`chat.completion.chunk`s): the role, the text a word at a time,
 * the tool calls, the finish reason, and with `include_usage` a last chunk with the usage and no choices.
 */
function streamChunks(answer: ReturnType<typeof completion>, includeUsage: boolean) {
  const { id, created, model, usage } = answer;
  const { message, finish_reason } = answer.choices[0]!;
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
  });
  const words = message.content?.match(/\s*\S+\s*/g) ?? [];
  const toolCalls = (message.tool_calls ?? []).map((c, index) => ({ index, ...c }));
  return [
    chunk({ role: 'assistant', content: '' }),
    ...words.map((w) => chunk({ content: w })),
    ...(toolCalls.length ? [chunk({ tool_calls: toolCalls })] : []),
    chunk({}, finish_reason),
    ...(includeUsage ? [{ id, object: 'chat.completion.chunk', created, model, choices: [], usage }] : []),
  ];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Dimensions of the scripted embeddings. */
export const SCRIPTED_EMBEDDING_DIMENSIONS = 64;

/**
 * A deterministic embedding: each lower-cased word hashed (FNV-1a) to one of the dimensions, counted,
 * and the vector scaled to length 1, so texts sharing words are near in cosine distance.
 */
export function embeddingOf(text: string): number[] {
  const vector = new Array<number>(SCRIPTED_EMBEDDING_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let hash = 0x811c9dc5;
    for (const ch of word) hash = Math.imul(hash ^ ch.codePointAt(0)!, 0x01000193) >>> 0;
    vector[hash % SCRIPTED_EMBEDDING_DIMENSIONS]! += 1;
  }
  const length = Math.hypot(...vector);
  return length === 0 ? vector : vector.map((v) => v / length);
}

/**
 * `POST /embeddings`: `{ model, input: string | string[], encoding_format? }` → OpenAI's answer shape;
 * `encoding_format: 'base64'` (the OpenAI SDK's default) gives little-endian float32s in base64.
 */
function answerEmbeddings(raw: string, send: (status: number, body: unknown) => void): void {
  let input: unknown;
  let base64 = false;
  try {
    ({ input } = JSON.parse(raw));
    base64 = JSON.parse(raw).encoding_format === 'base64';
  } catch {
    return send(400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
  }
  const texts = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    return send(400, { error: { message: 'input: a string or an array of strings', type: 'invalid_request_error' } });
  }
  send(200, {
    object: 'list',
    model: 'scripted-embeddings',
    data: texts.map((text, index) => {
      const vector = embeddingOf(text);
      return { object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector };
    }),
    usage: { prompt_tokens: 0, total_tokens: 0 },
  });
}
