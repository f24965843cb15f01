/** Staging's pure parts (issue 15): the promotion gate, staging secret names, anonymisation, the shadow report. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { envSecretStore, resolveSecrets } from '../../src/secrets/secretStore';
import { createAnonymiser, patternProblems } from '../../src/shared/anonymise';
import { isLiveProduction, promotionRefusals } from '../../src/shared/environments';
import type { ScoredRun } from '../../src/shared/evals/scorers';
import { compareShadowPair, shadowReportOf } from '../../src/shared/shadowReport';

describe('the promotion gate', () => {
  const evidence = (stagingRuns: number, evalPassed: boolean | null) => ({ stagingRuns, evalPassed });
  it('names each requirement the bundle does not meet, and nothing when there is no gate', () => {
    const gate = { requireStaging: true, requireEval: true };
    expect(promotionRefusals('b@1', gate, evidence(0, null))).toEqual([
      'staging: b@1 has no completed staging run (deploy it to staging and run it there first)',
      'eval: b@1 has no stored eval (run bosun eval on it)',
    ]);
    expect(promotionRefusals('b@1', gate, evidence(3, false))).toEqual(['eval: the latest eval of b@1 did not pass its gate']);
    expect(promotionRefusals('b@1', gate, evidence(1, true))).toEqual([]);
    expect(promotionRefusals('b@1', { requireStaging: false, requireEval: false }, evidence(0, false))).toEqual([]);
  });
});

describe('staging secrets', () => {
  it('resolves NAME as STAGING_NAME in staging, and never falls back to production\'s value', async () => {
    const store = envSecretStore({ BOSUN_SECRET_API_TOKEN: 'live', BOSUN_SECRET_STAGING_API_TOKEN: 'test' });
    expect(await resolveSecrets(store, ['API_TOKEN'])).toEqual({ API_TOKEN: 'live' });
    expect(await resolveSecrets(store, ['API_TOKEN'], 'staging')).toEqual({ API_TOKEN: 'test' });
    await expect(resolveSecrets(envSecretStore({ BOSUN_SECRET_API_TOKEN: 'live' }), ['API_TOKEN'], 'staging')).rejects.toThrow(/STAGING_API_TOKEN/);
  });
});

describe('anonymisation', () => {
  const hash = (kind: string, value: string) => createHash('sha256').update(`${kind}:${value}`).digest('hex');
  const anonymiser = createAnonymiser({ names: ['Ada Lovelace'], patterns: ['CUST-\\d+'] }, hash);
  const text = 'I am Ada Lovelace, ada@example.com, +44 20 7946 0958, card 4111 1111 1111 1111, account 12345678, IBAN GB82 WEST 1234 5698 7654 32, CUST-991; order 1001 on 2026-11-30.';

  it('replaces emails, phones, cards, accounts, listed names and tenant patterns; leaves order numbers and dates', () => {
    const out = anonymiser.text(text);
    for (const detail of ['Ada Lovelace', 'ada@example.com', '7946 0958', '4111 1111 1111 1111', '12345678', 'GB82', 'CUST-991']) expect(out).not.toContain(detail);
    expect(out).toContain('order 1001 on 2026-11-30');
    expect(out).toMatch(/Person-[0-9a-f]{8}, user-[0-9a-f]+@example\.invalid/);
  });

  it('is deterministic per value (a name in any case, a number with any separators), in text and inside JSON', () => {
    const a = anonymiser.text('ada lovelace paid with 4111-1111-1111-1111');
    const b = anonymiser.json({ customer: 'Ada Lovelace', cards: ['4111 1111 1111 1111'] });
    expect(a).toBe(`${b.customer} paid with ${b.cards[0]!.replaceAll(' ', '-')}`);
    expect(anonymiser.text('x@example.com')).not.toBe(anonymiser.text('y@example.com'));
  });

  it('refuses a tenant pattern that does not compile or matches nothing at all', () => {
    expect(patternProblems(['CUST-\\d+', '(', 'a*'])).toEqual([expect.stringMatching(/^patterns\.1: /), 'patterns.2: matches the empty string']);
  });
});

describe('the shadow report', () => {
  const run = (runId: string, tools: string[], over: Partial<ScoredRun> = {}): ScoredRun => ({
    runId, status: 'completed', input: 'refund order 1001', output: 'done', error: null,
    createdAt: '2026-11-30T00:00:00Z', startedAt: '2026-11-30T00:00:00Z', finishedAt: '2026-11-30T00:00:01Z',
    steps: tools.map((name, i) => ({ step: i + 1, ordinal: 1, kind: 'tool' as const, name, status: 'ok', detail: { arguments: {}, result: {} } })),
    approvals: [], usage: { costUsd: 0.001 }, ...over,
  });

  it('scores each replay against its original with the eval scorers, most different first, unfinished last', () => {
    const same = compareShadowPair(run('o1', ['lookup_order']), run('c1', ['lookup_order']));
    const skipped = compareShadowPair(run('o2', ['lookup_order', 'issue_refund']), run('c2', ['issue_refund']));
    const failed = compareShadowPair(run('o3', ['lookup_order']), run('c3', [], { status: 'failed', error: { code: 'x', message: 'y' } }));
    const pending = compareShadowPair(run('o4', []), run('c4', [], { status: 'running', finishedAt: null }));
    expect(same).toMatchObject({ difference: 0, pending: false });
    expect(skipped.checks!.tool_call_accuracy.failures).toEqual(['expected a call lookup_order {}, none was made']);
    expect(pending).toMatchObject({ pending: true, checks: null });
    const report = shadowReportOf([same, pending, skipped, failed]);
    expect(report.items.map((i) => i.runId)).toEqual(['c3', 'c2', 'c1', 'c4']);
    expect(report.aggregates).toMatchObject({ runs: 4, finished: 3, agreement: { trajectory: 1 / 3 } });
    expect(report.aggregates.candidate.successRate).toBeCloseTo(2 / 3);
    expect(report.aggregates.original.successRate).toBe(1);
  });
});

describe('real production traffic (what shadowing selects and mirrors)', () => {
  it('is a production run of the deployment, not sandboxed, not pinned to a bundle', () => {
    expect(isLiveProduction({ environment: 'production', sandbox: false, pinned: false })).toBe(true);
    expect(isLiveProduction({ environment: 'production', sandbox: true, pinned: false })).toBe(false);
    expect(isLiveProduction({ environment: 'production', sandbox: false, pinned: true })).toBe(false);
    expect(isLiveProduction({ environment: 'staging', sandbox: true, pinned: false })).toBe(false);
  });
});
