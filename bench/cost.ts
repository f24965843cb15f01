/**
 * `npm run bench:cost`: prints (does not assert) what a long conversation costs, side by side:
 * naive full-history replay on the strong model, against a context budget (summary + recent turns,
 * long tool results cut), model routing, and both. Prompt caching is on for every variant (Bosun
 * always sends a stable prefix and prompt_cache_key).
 *
 * The conversation (test/support/longConversation.ts): the user gives a customer code in turn 1 and
 * asks to walk a chain of BENCH_TURNS - 1 orders, one lookup_order call per turn, each result
 * about BENCH_RESULT_CHARS long; the final answer (turn BENCH_TURNS) must repeat the customer code,
 * which after trimming only a summary can carry. Every variant runs on the same scripted model
 * (prompt tokens = characters / 4; its prompt cache serves the system prompt and tools of a
 * prompt_cache_key seen before) in one fresh stack; bundles are published through the API and
 * runs pinned to them. The process exits 0 unless the bench broke (a failed final-answer check
 * means the comparison is void: exit 1).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { readBundleDir } from '../src/cli/bundleFiles';
import { loadConfig } from '../src/config';
import type { RecordedRequest } from '../src/dev/scriptedModel';
import { bucketsOf, priceBuckets } from '../src/shared/pricing';
import { CUSTOMER_CODE, chainInput, chainRules, seedOrderChain } from '../test/support/longConversation';
import { provisionTestServices, type TestServices } from '../test/support/provision';
import { startTestStack, type TestStack } from '../test/support/testStack';
import { cleanUpOnInterrupt, envInt } from './env';


const TURNS = envInt('BENCH_TURNS', 30);
const RESULT_CHARS = envInt('BENCH_RESULT_CHARS', 1500);
const MAX_INPUT_TOKENS = envInt('BENCH_MAX_INPUT_TOKENS', 2000);
const KEEP_RECENT = envInt('BENCH_KEEP_RECENT_MESSAGES', 6);
const MAX_TOOL_RESULT_CHARS = envInt('BENCH_MAX_TOOL_RESULT_CHARS', 600);
const STRONG = 'gpt-4o';
const CHEAP = 'gpt-4o-mini';
const CHAIN_START = 5001;

interface Variant {
  label: string;
  changes: Record<string, unknown>;
}

const context = { maxInputTokens: MAX_INPUT_TOKENS, keepRecentMessages: KEEP_RECENT, maxToolResultChars: MAX_TOOL_RESULT_CHARS };
const routing = { strong: STRONG, cheap: CHEAP };
const variants: Variant[] = [
  { label: 'naive', changes: { model: { id: STRONG } } },
  { label: 'trimmed', changes: { model: { id: STRONG }, context } },
  { label: 'routed', changes: { model: { id: STRONG, routing } } },
  { label: 'trimmed+routed', changes: { model: { id: STRONG, routing }, context } },
];

interface Result {
  label: string;
  bundleId: string;
  status: string;
  passed: boolean;
  output: string;
  modelCalls: number;
  summaries: number;
  strongCalls: number;
  cheapCalls: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  largestPrompt: number;
  lastPrompt: number;
  costUsd: number;
  /** What the same requests would cost if the provider cached every repeated message prefix. */
  idealPrefixCacheUsd: number | undefined;
  wallS: number;
}

const prices = loadConfig(process.env).model.prices;

/**
 * A provider with automatic prefix caching (OpenAI caches a repeated prompt prefix per model)
 * would serve from cache every leading message a request shares with the previous request to the
 * same model, plus the tools. Computed from the recorded requests and each call's real token
 * counts; an upper bound on what caching could do for each variant.
 */
function idealPrefixCacheUsd(requests: RecordedRequest[], steps: any[]): number | undefined {
  if (requests.length !== steps.length) return undefined;
  const previousByModel = new Map<string, RecordedRequest>();
  let total = 0;
  requests.forEach((r, i) => {
    const step = steps[i];
    // Per model and prompt (a stand-in for prompt_cache_key): summary calls have prompts of their own.
    const key = `${r.model}\u0000${r.messages[0]?.content ?? ''}`;
    const previous = previousByModel.get(key);
    let shared = 0;
    while (previous && shared < Math.min(r.messages.length, previous.messages.length) &&
      JSON.stringify(r.messages[shared]) === JSON.stringify(previous.messages[shared])) shared++;
    const uncached = shared === 0 ? step.inputTokens : Math.min(step.inputTokens, Math.ceil(JSON.stringify(r.messages.slice(shared)).length / 4));
    previousByModel.set(key, r);
    total += priceBuckets(
      bucketsOf({ prompt_tokens: step.inputTokens, completion_tokens: step.outputTokens, prompt_tokens_details: { cached_tokens: step.inputTokens - uncached } }),
      prices[step.name],
    ).costUsd;
  });
  return total;
}

async function runVariant(stack: TestStack, variant: Variant): Promise<Result> {
  const base = readBundleDir('agents/support') as Record<string, any>;
  const published = await stack.api('POST', '/v1/bundles', { ...base, limits: { maxSteps: TURNS + 10 }, ...variant.changes });
  if (published.status >= 300) throw new Error(`publishing ${variant.label} failed: ${JSON.stringify(published.body)}`);
  const bundleId: string = published.body.bundleId;
  const first = stack.model.requests.length;
  const started = performance.now();
  const start = await stack.api('POST', '/v1/runs', { agent: 'support', input: chainInput(CHAIN_START), bundleId });
  if (start.status !== 202) throw new Error(`starting ${variant.label} failed: ${JSON.stringify(start.body)}`);
  const view = await stack.waitForRun(start.body.runId, (r) => !['queued', 'running', 'awaiting_approval'].includes(r.status), 300_000);
  const wallS = (performance.now() - started) / 1000;
  const requests = stack.model.requests.slice(first);
  const modelSteps = view.steps.filter((s: any) => s.kind === 'model');
  const main = modelSteps.filter((s: any) => s.ordinal === 0);
  return {
    label: variant.label,
    bundleId,
    status: view.status,
    passed: view.status === 'completed' && typeof view.output === 'string' && view.output.includes(CUSTOMER_CODE),
    output: view.output ?? view.error ?? '',
    modelCalls: modelSteps.length,
    summaries: modelSteps.length - main.length,
    strongCalls: modelSteps.filter((s: any) => s.name === STRONG).length,
    cheapCalls: modelSteps.filter((s: any) => s.name === CHEAP).length,
    inputTokens: view.usage.inputTokens,
    cachedInputTokens: view.usage.cachedInputTokens,
    outputTokens: view.usage.outputTokens,
    largestPrompt: Math.max(...main.map((s: any) => s.inputTokens)),
    lastPrompt: main.at(-1)?.inputTokens ?? 0,
    costUsd: view.usage.costUsd,
    idealPrefixCacheUsd: idealPrefixCacheUsd(requests, modelSteps),
    wallS,
  };
}

const usd = (v: number | undefined) => (v === undefined ? 'n/a' : `$${v.toFixed(6)}`);
const int = (v: number) => v.toLocaleString('en-US');
const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(1)} %`;

function table(results: Result[]) {
  const naive = results[0]!;
  const rows: [string, (r: Result) => string][] = [
    ['final answer repeats turn-1 fact', (r) => (r.passed ? 'PASS' : `FAIL (${r.status})`)],
    ['model calls (summaries)', (r) => `${r.modelCalls} (${r.summaries})`],
    [`  on ${STRONG} / ${CHEAP}`, (r) => `${r.strongCalls} / ${r.cheapCalls}`],
    ['input tokens', (r) => int(r.inputTokens)],
    ['  of which cached', (r) => int(r.cachedInputTokens)],
    ['  vs naive', (r) => pct(r.inputTokens, naive.inputTokens)],
    ['output tokens', (r) => int(r.outputTokens)],
    ['largest prompt (tokens)', (r) => int(r.largestPrompt)],
    ['last prompt (tokens)', (r) => int(r.lastPrompt)],
    ['cost per run', (r) => usd(r.costUsd)],
    ['  vs naive', (r) => pct(r.costUsd, naive.costUsd)],
    ['cost, ideal prefix cache (computed)', (r) => usd(r.idealPrefixCacheUsd)],
    ['  vs naive, same computation', (r) => (r.idealPrefixCacheUsd && naive.idealPrefixCacheUsd ? pct(r.idealPrefixCacheUsd, naive.idealPrefixCacheUsd) : 'n/a')],
    ['wall time', (r) => `${r.wallS.toFixed(1)} s`],
  ];
  const width = 16;
  const labelWidth = Math.max(...rows.map(([l]) => l.length)) + 2;
  console.log(`\n${''.padEnd(labelWidth)}${results.map((r) => r.label.padStart(width)).join('')}`);
  for (const [label, cell] of rows) console.log(`${label.padEnd(labelWidth)}${results.map((r) => cell(r).padStart(width)).join('')}`);
}

function header() {
  const cpus = os.cpus();
  const loadAverage = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log('Bosun cost bench: context budget, prompt caching and model routing');
  console.log(`  machine: ${cpus.length} cores × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}`);
  console.log(`  node ${process.version}, ${new Date().toISOString()}, load average ${loadAverage}`);
  console.log(`  settings: BENCH_TURNS=${TURNS} BENCH_RESULT_CHARS=${RESULT_CHARS} BENCH_MAX_INPUT_TOKENS=${MAX_INPUT_TOKENS} ` +
    `BENCH_KEEP_RECENT_MESSAGES=${KEEP_RECENT} BENCH_MAX_TOOL_RESULT_CHARS=${MAX_TOOL_RESULT_CHARS}`);
  console.log(`  conversation: ${TURNS} model turns (${TURNS - 1} lookup_order calls, one per turn, then the answer); ` +
    `scripted model, prompt tokens = characters / 4`);
  console.log(`  prices (USD per million tokens, input / cached input / output): ` +
    [STRONG, CHEAP].map((m) => `${m} ${prices[m]?.input} / ${prices[m]?.cachedInput ?? prices[m]?.input} / ${prices[m]?.output}`).join(', '));
  console.log(`  naive: ${STRONG} for every turn, the whole history every time; trimmed: context ${JSON.stringify(context)}; ` +
    `routed: first turn and turns after a tool error on ${STRONG}, the rest on ${CHEAP} (summaries on ${CHEAP} when routed, else ${STRONG})`);
}

async function main() {
  header();
  const started = performance.now();
  let services: TestServices | undefined;
  let stack: TestStack | undefined;
  const cleanup = async () => {
    await stack?.close().catch((err) => console.error('stack close failed:', err));
    stack = undefined;
    await services?.stop().catch((err) => console.error('services stop failed:', err));
    services = undefined;
  };
  const stopListening = cleanUpOnInterrupt(cleanup);
  let failed = false;
  try {
    services = await provisionTestServices();
    stack = await startTestStack({ services, script: { rules: chainRules, latencyMs: 0 } });
    await seedOrderChain(stack.db, stack.tenantId, CHAIN_START, TURNS - 1, RESULT_CHARS);
    const results: Result[] = [];
    for (const variant of variants) {
      const result = await runVariant(stack, variant);
      console.log(`  ${result.label.padEnd(15)} ${result.bundleId}  ${result.status}: "${result.output}"`);
      results.push(result);
    }
    table(results);
    failed = results.some((r) => !r.passed);
    console.log(`\n  "cached" is what the scripted model's cache served (system prompt and tools of a prompt_cache_key seen before).`);
    console.log('  "ideal prefix cache" prices the same calls as if every leading message shared with the previous call to the');
    console.log('  same model were cached too, as providers with automatic prefix caching can; it narrows the gap to naive replay.');
    console.log(`  bench took ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (failed) console.log('  A final-answer check FAILED: the variants did not do the same work, so the figures do not compare.');
  } finally {
    await cleanup();
    stopListening();
  }
  if (failed) process.exit(1);
}

main().catch((err) => {
  console.error('bench failed:', err);
  process.exit(1);
});
