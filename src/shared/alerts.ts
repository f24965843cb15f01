/**
 * Alerts on drift and cost: what a rule says, and how a rule's figures become a state. Pure: the
 * worker's evaluation activity reads the figures from PostgreSQL (src/db/alerts.ts) and applies
 * `evaluateRule` and `transitionOf` here; the API and the rules file share `alertRuleSpecSchema`.
 */
import { z } from 'zod';
import { parseDuration } from './duration';

/**
 * The signals a rule watches, each over the rule's agent (and bundle and tenant when given):
 * - `task_success_rate`: completed / finished runs (samples: finished runs)
 * - `grounding_rate`: grounded / judged runs, from the sampled online judge (samples: judged runs)
 * - `tool_error_rate`: tool calls that failed / tool calls that ran (samples: tool calls)
 * - `p95_latency_ms`: 95th percentile of finished runs' duration, start to end, in ms (samples: finished runs)
 * - `cost_per_run_usd`: mean cost of finished runs, USD (samples: finished runs)
 * - `cost_per_tenant_hour_usd`: a tenant's spend on the agent's model calls per hour of the window,
 *   USD; one alert per tenant (samples: priced model calls)
 */
export const alertSignals = [
  'task_success_rate', 'grounding_rate', 'tool_error_rate', 'p95_latency_ms', 'cost_per_run_usd', 'cost_per_tenant_hour_usd',
] as const;
export type AlertSignal = (typeof alertSignals)[number];

/** Signals measured per tenant: a rule for every tenant has one alert per tenant. */
export const perTenantSignals: readonly AlertSignal[] = ['cost_per_tenant_hour_usd'];

/** The scope of an alert over a rule's whole population (every other scope is a tenant ID). */
export const WHOLE_SCOPE = '*';

const duration = z.string().refine((text) => parseDuration(text) !== undefined, 'must be a duration such as 15m, 1h or 24h');

/** The fields of a rule, as the rules file and `POST /v1/alerts/rules` write them (the API sets tenantId itself). */
export const alertRuleFields = {
  agent: z.string().min(1).max(200).describe('The agent whose runs are watched.'),
  bundleId: z.string().min(1).max(200).optional().describe('Only runs of this bundle.'),
  tenantId: z.string().min(1).max(200).optional().describe('Only this tenant\'s runs (rules file only; API rules are always the caller\'s tenant).'),
  signal: z.enum(alertSignals),
  window: duration.default('15m').describe('The window the signal is measured over, ending now.'),
  when: z.enum(['above', 'below']).describe('Fire when the signal is above (or below) the limit.'),
  threshold: z.number().min(0).optional().describe('An absolute limit.'),
  baseline: z
    .strictObject({
      window: duration.describe('The window just before the current one, e.g. 24h.'),
      factor: z.number().positive().describe('The limit is factor × the signal over the baseline window, e.g. 1.5.'),
    })
    .optional(),
  minSamples: z.number().int().min(1).max(1_000_000).default(20)
    .describe('Samples (see the signal) each window needs before the rule may fire: one failed run pages nobody.'),
  webhookUrl: z.url({ protocol: /^https?$/ }).optional().describe('Where transitions go; BOSUN_ALERT_WEBHOOK_URL when absent.'),
  description: z.string().max(500).optional(),
};

/** A rule has an absolute limit or a baseline, never both. */
export const oneLimit: [(rule: { threshold?: number; baseline?: unknown }) => boolean, { message: string; path: string[] }] = [
  (rule) => (rule.threshold === undefined) !== (rule.baseline === undefined),
  { message: 'give exactly one of threshold (an absolute limit) and baseline (a limit relative to the previous window)', path: ['threshold'] },
];

export const alertRuleSpecSchema = z.strictObject(alertRuleFields).refine(...oneLimit);
export type AlertRuleSpec = z.infer<typeof alertRuleSpecSchema>;

/** The rules file (BOSUN_ALERT_RULES): `rules: [{ id, agent, signal, ... }]`; ids are letters, digits, `.`, `_` and `-`. */
export const alertRulesFileSchema = z.strictObject({
  rules: z.array(z.strictObject({ id: z.string().regex(/^[\w.-]{1,100}$/, 'letters, digits, ".", "_" or "-", at most 100'), ...alertRuleFields }).refine(...oneLimit))
    .default([]),
});
export type AlertRulesFile = z.infer<typeof alertRulesFileSchema>;

/** A rule as stored: a spec with its id, source and tenant (null: every tenant). */
export interface AlertRule {
  ruleId: string;
  source: 'config' | 'api';
  tenantId: string | null;
  agent: string;
  bundleId: string | null;
  signal: AlertSignal;
  window: string;
  when: 'above' | 'below';
  threshold: number | null;
  baseline: { window: string; factor: number } | null;
  minSamples: number;
  webhookUrl: string | null;
  description: string | null;
  createdBy: string;
  createdAt: string;
}

/** The stored id of a rules-file rule. */
export const configRuleId = (id: string) => `config:${id}`;

/** A signal over one window: how many samples, and its value (null without samples). */
export interface WindowFigures {
  samples: number;
  value: number | null;
}

/** What an evaluation found, as an alert keeps it and a webhook shows it. */
export interface AlertFigures {
  signal: AlertSignal;
  window: string;
  value: number | null;
  samples: number;
  minSamples: number;
  when: 'above' | 'below';
  /** The limit in force: the threshold, or factor × the baseline's value (null while the baseline has too few samples). */
  limit: number | null;
  baseline: { window: string; factor: number; value: number | null; samples: number } | null;
  firing: boolean;
  /** Why it fires or not, in one line. */
  reason: string;
}

/**
 * Whether a rule fires on its figures: only with at least `minSamples` in the current window (and
 * in the baseline window, for a baseline rule), and the value strictly beyond the limit. Fewer
 * samples never fire, and resolve a firing alert: the evidence is gone.
 */
export function evaluateRule(rule: Pick<AlertRule, 'signal' | 'window' | 'when' | 'threshold' | 'baseline' | 'minSamples'>,
  current: WindowFigures, baseline?: WindowFigures): AlertFigures {
  const baselineFigures = rule.baseline
    ? { ...rule.baseline, value: baseline?.value ?? null, samples: baseline?.samples ?? 0 }
    : null;
  const limit = rule.threshold ?? (baselineFigures && baselineFigures.samples >= rule.minSamples && baselineFigures.value !== null
    ? baselineFigures.value * baselineFigures.factor
    : null);
  const base = { signal: rule.signal, window: rule.window, value: current.value, samples: current.samples, minSamples: rule.minSamples, when: rule.when, limit, baseline: baselineFigures };
  if (current.samples < rule.minSamples || current.value === null) {
    return { ...base, firing: false, reason: `${current.samples} of the ${rule.minSamples} samples needed in the last ${rule.window}` };
  }
  if (limit === null) {
    return { ...base, firing: false, reason: `${baselineFigures?.samples ?? 0} of the ${rule.minSamples} samples needed in the baseline ${rule.baseline?.window}` };
  }
  const firing = rule.when === 'above' ? current.value > limit : current.value < limit;
  const relation = firing ? (rule.when === 'above' ? '>' : '<') : (rule.when === 'above' ? '≤' : '≥');
  const limitText = rule.baseline ? `${rule.baseline.factor} × ${formatValue(rule.signal, baselineFigures!.value)} (previous ${rule.baseline.window})` : formatValue(rule.signal, limit);
  return { ...base, firing, reason: `${formatValue(rule.signal, current.value)} ${relation} ${limitText} over the last ${rule.window}, ${current.samples} samples` };
}

export type AlertState = 'firing' | 'resolved';
export type AlertTransition = 'fired' | 'resolved';

/** The transition an evaluation makes from the alert's state (undefined: no alert yet), if any. */
export function transitionOf(previous: AlertState | undefined, firing: boolean): AlertTransition | undefined {
  if (firing && previous !== 'firing') return 'fired';
  if (!firing && previous === 'firing') return 'resolved';
  return undefined;
}

const signalNames: Record<AlertSignal, string> = {
  task_success_rate: 'task success rate',
  grounding_rate: 'grounding rate',
  tool_error_rate: 'tool error rate',
  p95_latency_ms: 'p95 latency',
  cost_per_run_usd: 'cost per run',
  cost_per_tenant_hour_usd: 'cost per tenant per hour',
};

/** A signal's value for people: rates in %, latency in ms, costs in USD. */
export function formatValue(signal: AlertSignal, value: number | null): string {
  if (value === null) return 'n/a';
  if (signal.endsWith('_rate')) return `${Math.round(value * 1000) / 10}%`;
  if (signal === 'p95_latency_ms') return `${Math.round(value)} ms`;
  return `$${value.toFixed(4)}`;
}

/** The Slack-compatible `text` of a transition, e.g. `[FIRING] support-tool-errors: tool error rate of agent support 75% > 50% …`. */
export function transitionText(rule: Pick<AlertRule, 'ruleId' | 'agent' | 'bundleId'>, scope: string, transition: AlertTransition, figures: AlertFigures): string {
  const where = [`agent ${rule.agent}`, ...(rule.bundleId ? [`bundle ${rule.bundleId}`] : []), ...(scope !== WHOLE_SCOPE ? [`tenant ${scope}`] : [])].join(', ');
  const head = transition === 'fired' ? '[FIRING]' : '[RESOLVED]';
  return `${head} ${rule.ruleId}: ${signalNames[figures.signal]} of ${where}: ${figures.reason}`;
}
