/**
 * The eval gate file (`evals/eval_gate.yaml`), in the shape of the article Bosun grew from:
 *
 *   eval_gate:
 *     bundle: ./agents/support        # a bundle directory, or a bundle ID such as support@0123456789ab
 *     suite: ./evals/golden_set.jsonl
 *     thresholds: { task_success: ">= 0.90", p95_latency_ms: "<= 8000", … }
 *     on_regression: block_merge      # or warn
 *
 * plus optional `repeats`, `concurrency`, `baseline`, `judge`, `min_effect` and `alpha`. Pure: the
 * CLI reads the file and checks that the paths exist.
 */
import { z } from 'zod';

/** Rates in [0, 1]: the share of runs that passed the metric's check. */
export const rateMetrics = ['task_success', 'grounding', 'tool_call_accuracy', 'approval_accuracy'] as const;
/** Amounts, where lower is better: p95 latency in milliseconds, mean cost of a run in USD. */
export const amountMetrics = ['p95_latency_ms', 'cost_per_run_usd'] as const;
export const metricNames = [...rateMetrics, ...amountMetrics] as const;
export type RateMetric = (typeof rateMetrics)[number];
export type AmountMetric = (typeof amountMetrics)[number];
export type MetricName = (typeof metricNames)[number];

export const isRateMetric = (name: string): name is RateMetric => (rateMetrics as readonly string[]).includes(name);

export type Comparator = '>=' | '<=' | '>' | '<' | '==';

/** A threshold such as `">= 0.90"`: the metric's value must compare true against `value`. */
export interface Threshold {
  comparator: Comparator;
  value: number;
  /** As written in the gate file, for reports. */
  text: string;
}

const comparisonPattern = /^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?)\s*$/;

/** Parses `">= 0.90"`; undefined when the text is not a comparison with a number. */
export function parseThreshold(text: string): Threshold | undefined {
  const match = comparisonPattern.exec(text);
  return match ? { comparator: match[1] as Comparator, value: Number(match[2]), text: text.trim() } : undefined;
}

/** Whether `actual` meets the threshold (exact comparison: `==` compares the numbers as given). */
export function meetsThreshold(actual: number, { comparator, value }: Threshold): boolean {
  switch (comparator) {
    case '>=': return actual >= value;
    case '<=': return actual <= value;
    case '>': return actual > value;
    case '<': return actual < value;
    case '==': return actual === value;
  }
}

const thresholdText = z.string().superRefine((text, ctx) => {
  if (!parseThreshold(text)) ctx.addIssue({ code: 'custom', message: `"${text}" is not a comparison such as ">= 0.90" or "<= 8000"` });
});

const judgeSchema = z.strictObject({
  model: z.string().min(1).describe('The judge model, e.g. gpt-4o-mini; any OpenAI-compatible chat completions server.'),
  base_url: z.url().optional().describe('The server; default BOSUN_JUDGE_BASE_URL, else OPENAI_BASE_URL, else https://api.openai.com/v1.'),
  api_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default('OPENAI_API_KEY').describe('The environment variable that holds its API key (none needed when unset).'),
  rubrics: z
    .strictObject({
      task_success: z.string().min(1).optional(),
      grounding: z.string().min(1).optional(),
    })
    .refine((r) => r.task_success || r.grounding, 'name a rubric for task_success or grounding'),
});
export type JudgeConfig = z.infer<typeof judgeSchema>;

const fraction = z.number().min(0).max(10);

export const gateSchema = z.strictObject({
  bundle: z.string().min(1).describe('A bundle directory (bundle.yaml + prompt), published before the eval, or a bundle ID.'),
  suite: z.string().min(1).describe('The golden set: a JSON Lines file of cases.'),
  thresholds: z
    .record(z.string(), thresholdText)
    .superRefine((thresholds, ctx) => {
      for (const [name, text] of Object.entries(thresholds)) {
        if (!(metricNames as readonly string[]).includes(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: `unknown metric; known: ${metricNames.join(', ')}` });
          continue;
        }
        const threshold = parseThreshold(text);
        if (threshold && isRateMetric(name) && (threshold.value < 0 || threshold.value > 1)) {
          ctx.addIssue({ code: 'custom', path: [name], message: `${name} is a rate between 0 and 1; ${threshold.value} is not` });
        }
      }
    })
    .refine((t) => Object.keys(t).length > 0, 'name at least one threshold'),
  on_regression: z.enum(['block_merge', 'warn']),
  repeats: z.number().int().min(1).max(20).default(1).describe('Runs per case (k): pass@k and pass^k per case, flaky cases flagged.'),
  concurrency: z.number().int().min(1).max(64).default(4).describe('Cases running at the same time.'),
  baseline: z
    .string()
    .regex(/^(stable|none|[a-z0-9][a-z0-9_-]*@[0-9a-f]{12})$/, 'stable, none, or a bundle ID')
    .default('none')
    .describe("Compare with the last stored eval of this bundle (stable: the agent's stable bundle) on the same suite."),
  alpha: z.number().gt(0).lt(0.5).default(0.05).describe('Significance level of a drop in a rate against the baseline (one-sided).'),
  min_effect: z
    .strictObject({ p95_latency_ms: fraction.default(0.2), cost_per_run_usd: fraction.default(0.1) })
    .prefault({})
    .describe('Smallest rise over the baseline, as a fraction of it (0.2 = 20%), that counts as a regression.'),
  judge: judgeSchema.optional(),
});
export type EvalGate = z.infer<typeof gateSchema>;

const fileSchema = z.strictObject({ eval_gate: gateSchema });

export type GateParse = { ok: true; gate: EvalGate; thresholds: Map<MetricName, Threshold> } | { ok: false; problems: string[] };

/**
 * Validates a parsed gate file (the YAML's value). Every problem is listed, each as
 * `path: message`, e.g. `eval_gate.thresholds.grounding: "about 0.9" is not a comparison …`.
 */
export function parseGate(raw: unknown): GateParse {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(file)'}: ${i.message}`) };
  }
  const gate = parsed.data.eval_gate;
  const thresholds = new Map(Object.entries(gate.thresholds).map(([name, text]) => [name as MetricName, parseThreshold(text)!]));
  return { ok: true, gate, thresholds };
}
