/** Shadow and continuous-shadowing requests and reports: what the CLI sends and shows, what the contract accepts (issue 15 D5, D6, D10). */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/apiClient';
import type { CommandContext } from '../../src/cli/command';
import { refuseContinuousShadow } from '../../src/cli/eval/goldenAdd';
import { startRunRequest } from '../../src/cli/runCommands';
import { describeShadowReport, shadowingRequest } from '../../src/cli/shadowCommands';
import { shadowingRequestSchema, shadowRequestSchema } from '../../src/contract';
import type { ScoredRun } from '../../src/shared/evals/scorers';
import { compareShadowPair, shadowReportOf } from '../../src/shared/shadowReport';

const ctx = { cwd: process.cwd() } as CommandContext;

const scored = (runId: string, tools: string[]): ScoredRun => ({
  runId, status: 'completed', input: 'Refund order 1001', output: 'done', error: null,
  createdAt: '2026-11-30T00:00:00Z', startedAt: '2026-11-30T00:00:00Z', finishedAt: '2026-11-30T00:00:01Z',
  steps: tools.map((name, i) => ({ step: i + 1, ordinal: 1, kind: 'tool' as const, name, status: 'ok', detail: { arguments: {}, result: {} } })),
  approvals: [], usage: { costUsd: 0.001 },
});

describe('bosun shadow continuous', () => {
  it('turns shadowing off without a rate', () => {
    expect(shadowingRequest(ctx, { off: true })).toEqual({ enabled: false });
  });

  it('sends only what is given, so the stored names and patterns are kept', () => {
    expect(shadowingRequest(ctx, { rate: '0.5' })).toEqual({ enabled: true, rate: 0.5 });
  });

  it('says a rate that is not a number is not a number', () => {
    expect(() => shadowingRequest(ctx, { rate: 'abc' })).toThrow(UsageError);
    expect(() => shadowingRequest(ctx, { rate: 'abc' })).toThrow('--rate must be a number from 0 to 1, e.g. --rate 0.1, not "abc"');
  });
});

describe('the shadowing contract', () => {
  it('leaves absent names, patterns and rate absent (the stored ones are kept)', () => {
    expect(shadowingRequestSchema.parse({ rate: 0.5 })).toEqual({ enabled: true, rate: 0.5 });
    expect(shadowingRequestSchema.parse({ enabled: false })).toEqual({ enabled: false });
  });
});

describe('the shadow replay contract', () => {
  it('refuses until before since, saying so', () => {
    const parsed = shadowRequestSchema.safeParse({ since: '2026-11-02T00:00:00Z', until: '2026-11-01T00:00:00Z' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toEqual([expect.objectContaining({ path: ['until'], message: expect.stringContaining('must be after since') })]);
    expect(shadowRequestSchema.safeParse({ since: '2026-11-01T00:00:00Z', until: '2026-11-02T00:00:00Z' }).success).toBe(true);
  });
});

describe('bosun shadow report and golden add --shadow', () => {
  const ids = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
  const differing = compareShadowPair(scored(ids(1), ['lookup_order', 'issue_refund']), scored(ids(2), ['lookup_order']));
  const report = (kind: 'replay' | 'continuous', items = [differing]) => ({
    shadowId: ids(5), kind, agent: 'support', bundleId: 'support@1', createdAt: '2026-11-30T00:00:00Z', done: false, ...shadowReportOf(items),
  });

  it('says no replay has finished yet rather than showing 0% agreement and no significant drop', () => {
    const text = describeShadowReport(report('replay', []));
    expect(text).not.toMatch(/agreement\s+outcome 0%/);
    expect(text).not.toContain('no significant drop');
    expect(text).toMatch(/agreement\s+no finished replay yet/);
  });

  it('gives no --html hint when the page is being written, and no golden-case hint for a continuous shadow', () => {
    expect(describeShadowReport(report('replay'))).toContain('--html report.html');
    expect(describeShadowReport(report('replay'), 10, { html: true })).not.toContain('--html');
    expect(describeShadowReport(report('continuous'))).not.toContain('golden add');
    expect(describeShadowReport(report('continuous'))).toMatch(/^standing shadow/);
  });

  it('refuses to export a continuous shadow as golden cases (a usage error), and lets a replay through', () => {
    expect(() => refuseContinuousShadow(report('continuous'))).toThrow(UsageError);
    expect(() => refuseContinuousShadow(report('continuous'))).toThrow(/is a continuous shadow: its mirrored runs read live sandbox data, not recorded tapes/);
    expect(() => refuseContinuousShadow(report('replay'))).not.toThrow();
  });
});

describe('bosun runs start --environment', () => {
  it('starts a staging run when asked, a production run by default, and names the environments otherwise', () => {
    expect(startRunRequest('support', 'hi', { environment: 'staging' })).toEqual({ agent: 'support', input: 'hi', environment: 'staging' });
    expect(startRunRequest('support', 'hi', {})).toEqual({ agent: 'support', input: 'hi' });
    expect(() => startRunRequest('support', 'hi', { environment: 'prod' })).toThrow('--environment must be production or staging, not "prod"');
  });
});
