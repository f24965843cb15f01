/**
 * `bosun stage`, `bosun gate`, `bosun shadow start`, `bosun shadow report`, `bosun shadow
 * continuous` and `bosun shadow standing` (issue 15, docs/staging.md): a candidate in staging, what
 * promotion to production requires, shadow replays of production traffic with their comparison
 * report, and continuous shadowing with its standing report.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDuration } from '../shared/duration';
import { answer, UsageError, type Schemas } from './apiClient';
import { show, stringOption, type CommandContext, type Command, type OptionValues } from './command';
import { fields, table, timestamp, usd } from './format';

type ShadowRequest = Schemas['ShadowRequest'];
type ShadowReport = Schemas['ShadowReport'];

/** Non-empty lines of a file the user names, relative to the working directory. */
function linesOf(ctx: CommandContext, file: string | undefined): string[] {
  if (file === undefined) return [];
  return readFileSync(path.resolve(ctx.cwd, file), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
}

function shadowRequest(ctx: CommandContext, options: OptionValues): ShadowRequest {
  const since = stringOption(options, 'since');
  const sinceMs = since === undefined ? undefined : parseDuration(since);
  if (since !== undefined && sinceMs === undefined) throw new UsageError(`--since must be a duration such as 24h, not "${since}"`);
  const sample = stringOption(options, 'sample');
  const sampleRate = stringOption(options, 'sample-rate');
  const statuses = stringOption(options, 'status');
  return {
    bundleId: stringOption(options, 'bundle'),
    ...(sinceMs !== undefined && { since: new Date(Date.now() - sinceMs).toISOString() }),
    ...(sample !== undefined && { sample: Number(sample) }),
    ...(sampleRate !== undefined && { sampleRate: Number(sampleRate) }),
    ...(statuses !== undefined && { statuses: statuses.split(',') as ShadowRequest['statuses'] }),
    anonymise: { names: linesOf(ctx, stringOption(options, 'names')), patterns: linesOf(ctx, stringOption(options, 'patterns')) },
    ...(options['reject-approvals'] === true && { approvals: 'reject' as const }),
  };
}

/** The body of `bosun shadow continuous`: only what the user gives; the API keeps the rest as stored. */
export function shadowingRequest(ctx: CommandContext, options: OptionValues): Schemas['ShadowingRequest'] {
  const rate = stringOption(options, 'rate');
  if (rate !== undefined && (rate.trim() === '' || Number.isNaN(Number(rate)))) throw new UsageError(`--rate must be a number from 0 to 1, e.g. --rate 0.1, not "${rate}"`);
  const names = stringOption(options, 'names');
  const patterns = stringOption(options, 'patterns');
  return {
    enabled: options.off !== true,
    ...(rate !== undefined && { rate: Number(rate) }),
    ...(names !== undefined && { names: linesOf(ctx, names) }),
    ...(patterns !== undefined && { patterns: linesOf(ctx, patterns) }),
  };
}

const percent = (share: number) => `${Math.round(share * 100)}%`;

/**
 * The report's summary: aggregates with the significance of the success rate, then the inputs where
 * the candidate differs most, and what to do next (`html`: the page is being written already, so no
 * hint to write it).
 */
export function describeShadowReport(r: ShadowReport, top = 10, { html = false } = {}): string {
  const a = r.aggregates;
  const test = a.successRate.test === 'fisher_exact' ? "Fisher's exact" : 'two-proportion z';
  const drop = a.successRate.significant ? 'a significant drop' : 'no significant drop';
  const none = a.finished === 0 ? 'no finished replay yet' : undefined;
  const continuous = r.kind === 'continuous';
  const summary = fields([
    [continuous ? 'standing shadow' : 'shadow', `${r.shadowId} (${r.done ? 'done' : `${a.finished} of ${a.runs} finished`})`],
    ['candidate', r.bundleId],
    ['agreement', none ?? `outcome ${percent(a.agreement.outcome)}, trajectory ${percent(a.agreement.trajectory)}, approvals ${percent(a.agreement.approvals)}, grounding ${percent(a.agreement.grounding)}`],
    ['success', none ?? `production ${percent(a.original.successRate)}, candidate ${percent(a.candidate.successRate)}: ${drop} (${test} p ${a.successRate.p.toFixed(3)})`],
    ['cost', none ?? `production ${usd(a.original.meanCostUsd)}, candidate ${usd(a.candidate.meanCostUsd)} a run`],
    ['latency p50/p95', none ?? `production ${a.original.p50LatencyMs}/${a.original.p95LatencyMs} ms, candidate ${a.candidate.p50LatencyMs}/${a.candidate.p95LatencyMs} ms`],
    ['started', timestamp(r.createdAt)],
  ]);
  const differing = r.items.filter((i) => i.difference > 0).length;
  const rows = r.items.slice(0, top).map((i) => [
    i.difference.toFixed(2), i.original.tools.join(' → ') || '-', i.candidate.tools.join(' → ') || '-',
    i.checks ? Object.entries(i.checks).filter(([, c]) => !c.pass).map(([name]) => name).join(', ') || 'same' : 'pending',
    i.input.slice(0, 60),
  ]);
  // A continuous shadow's mirrors have no tapes: production's outcome is no expectation of them (no golden cases).
  const hints = [
    !continuous && `as golden cases: bosun golden add --shadow ${r.shadowId} --agent ${r.agent}`,
    !html && `as a page with plots: bosun shadow report ${r.agent} ${r.shadowId} --html report.html`,
  ].filter(Boolean);
  const next = differing ? `\n\n${differing} inputs differ.${hints.length ? ` ${hints.join('; ')}` : ''}` : '';
  return `${summary}\n\nmost different first:\n${table(['diff', 'production', 'candidate', 'differs in', 'input (anonymised)'], rows)}${next}`;
}

async function waitForReport(ctx: CommandContext, agent: string, shadowId: string): Promise<ShadowReport> {
  for (;;) {
    const report = await shadowReport(ctx, agent, shadowId);
    if (report.done) return report;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function shadowReport(ctx: CommandContext, agent: string, shadowId: string): Promise<ShadowReport> {
  return answer(ctx.api.GET('/v1/agents/{agent}/shadow/{shadowId}', { params: { path: { agent, shadowId } } }));
}

export const shadowCommands: Command[] = [
  {
    words: ['stage'],
    args: ['<agent>', '<bundleId>'],
    summary: "send <agent>'s staging runs (environment staging) to <bundleId>",
    options: {
      'sandbox-tenant': {
        type: 'string', value: '<tenant:sandbox>', description: "the tenant whose rows staging tools see (<your tenant>:sandbox[:<label>]; 'none': your own)",
      },
    },
    async run(ctx, [agent, bundleId], options) {
      const sandbox = stringOption(options, 'sandbox-tenant');
      const body = { bundleId: bundleId!, ...(sandbox !== undefined && { sandboxTenant: sandbox === 'none' ? null : sandbox }) };
      const staged = await answer(ctx.api.PUT('/v1/agents/{agent}/staging', { params: { path: { agent: agent! } }, body }));
      show(ctx, staged, (s) =>
        `staged ${s.bundleId} for ${s.agent}: runs with environment staging use it, sandboxed` +
        (s.sandboxTenant ? `; their tools see tenant ${s.sandboxTenant}` : ''));
    },
  },
  {
    words: ['gate'],
    args: ['<agent>'],
    summary: 'set what deploying a bundle of <agent> to production requires',
    options: {
      'require-staging': { type: 'boolean', description: 'the bundle completed a staging run' },
      'require-eval': { type: 'boolean', description: "the bundle's latest eval passed its gate" },
    },
    async run(ctx, [agent], options) {
      const gate = { requireStaging: options['require-staging'] === true, requireEval: options['require-eval'] === true };
      const stored = await answer(ctx.api.PUT('/v1/agents/{agent}/promotion-gate', { params: { path: { agent: agent! } }, body: gate }));
      show(ctx, stored, (g) => `promotion of ${agent} requires: ${[g.requireStaging && 'a staging run', g.requireEval && 'a passing eval'].filter(Boolean).join(' and ') || 'nothing'}`);
    },
  },
  {
    words: ['shadow', 'start'],
    args: ['<agent>'],
    summary: "replay a sample of <agent>'s production runs, anonymised, against a candidate in staging",
    options: {
      bundle: { type: 'string', value: '<bundleId>', description: "the candidate (default: the agent's staging bundle)" },
      sample: { type: 'string', value: '<n>', description: 'at most this many runs (API default 50, at most 200)' },
      'sample-rate': { type: 'string', value: '<r>', description: 'instead of --sample: this share of the runs (0 < r ≤ 1), the same runs each time' },
      since: { type: 'string', value: '<duration>', description: 'only runs of the last 24h, 7d, …' },
      status: { type: 'string', value: '<s1,s2>', description: 'only runs that ended so (API default completed)' },
      names: { type: 'string', value: '<file>', description: 'names to anonymise, one a line' },
      patterns: { type: 'string', value: '<file>', description: 'regular expressions of your identifiers to anonymise, one a line' },
      'reject-approvals': { type: 'boolean', description: 'reject every approval the replays ask (default: as the original was decided)' },
      wait: { type: 'boolean', description: 'wait for every replay to finish and print the report' },
    },
    async run(ctx, [agent], options) {
      const started = await answer(ctx.api.POST('/v1/agents/{agent}/shadow', { params: { path: { agent: agent! } }, body: shadowRequest(ctx, options) }));
      if (options.wait !== true) {
        show(ctx, started, (s) => `replaying ${s.runs.length} runs of ${s.agent} against ${s.bundleId}: bosun shadow report ${s.agent} ${s.shadowId}`);
        return;
      }
      show(ctx, await waitForReport(ctx, agent!, started.shadowId), (r) => describeShadowReport(r));
    },
  },
  {
    words: ['shadow', 'report'],
    args: ['<agent>', '<shadowId>'],
    summary: 'compare each replay with its production original, most different first',
    options: {
      top: { type: 'string', value: '<n>', description: 'list this many inputs (default 10)' },
      html: { type: 'string', value: '<file>', description: 'also write the report as an HTML page with plots (self-contained: opens offline)' },
    },
    async run(ctx, [agent, shadowId], options) {
      const report = await shadowReport(ctx, agent!, shadowId!);
      const html = stringOption(options, 'html');
      if (html !== undefined) {
        const page = await answer(ctx.api.GET('/v1/agents/{agent}/shadow/{shadowId}/report.html', {
          params: { path: { agent: agent!, shadowId: shadowId! } }, headers: { accept: 'text/html' }, parseAs: 'text',
        }));
        writeFileSync(path.resolve(ctx.cwd, html), page as string);
        ctx.note(`wrote ${html}`);
      }
      show(ctx, report, (r) => describeShadowReport(r, Number(stringOption(options, 'top') ?? 10), { html: html !== undefined }));
    },
  },
  {
    words: ['shadow', 'continuous'],
    args: ['<agent>'],
    summary: "mirror a share of <agent>'s live production runs to its staging deployment",
    options: {
      rate: { type: 'string', value: '<0..1>', description: 'the share of production runs mirrored (required the first time; absent: the stored rate)' },
      off: { type: 'boolean', description: 'stop mirroring (the standing report stays)' },
      names: { type: 'string', value: '<file>', description: 'names to anonymise, one a line (stored with the setting; absent: the stored names)' },
      patterns: { type: 'string', value: '<file>', description: 'regular expressions of your identifiers to anonymise, one a line (absent: the stored ones)' },
    },
    async run(ctx, [agent], options) {
      const stored = await answer(ctx.api.PUT('/v1/agents/{agent}/shadowing', { params: { path: { agent: agent! } }, body: shadowingRequest(ctx, options) }));
      show(ctx, stored, (s) => (s.enabled ? `mirroring ${percent(s.rate)} of ${s.agent}'s production runs to staging: bosun shadow standing ${s.agent}` : `not mirroring ${s.agent}'s production runs`));
    },
  },
  {
    words: ['shadow', 'standing'],
    args: ['<agent>'],
    summary: "<agent>'s continuous shadowing and its standing report",
    options: { top: { type: 'string', value: '<n>', description: 'list this many inputs (default 10)' } },
    async run(ctx, [agent], options) {
      const view = await answer(ctx.api.GET('/v1/agents/{agent}/shadowing', { params: { path: { agent: agent! } } }));
      show(ctx, view, (v) => {
        const setting = v.setting ? `${v.setting.enabled ? 'mirroring' : 'off, was mirroring'} ${percent(v.setting.rate)} of production runs` : 'never set';
        return `${agent}: ${setting}\n${v.report ? describeShadowReport(v.report, Number(stringOption(options, 'top') ?? 10)) : 'nothing mirrored yet'}`;
      });
    },
  },
];
