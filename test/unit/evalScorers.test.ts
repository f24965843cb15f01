/** The scorers of `bosun eval` on hand-made runs: each metric passes the right run and names what fails. */
import { describe, expect, it } from 'vitest';
import { goldenCaseSchema, type GoldenCase } from '../../src/shared/evals/goldenCase';
import {
  extractClaims, latencyMsOf, outcomeOf, scoreApprovals, scoreGrounding, scoreRun, scoreTaskSuccess, scoreToolCalls, type ScoredRun,
} from '../../src/shared/evals/scorers';

type Step = ScoredRun['steps'][number];
type Approval = ScoredRun['approvals'][number];

const lookup: Step = {
  step: 1, ordinal: 1, kind: 'tool', name: 'lookup_order', status: 'ok',
  detail: { arguments: { order_id: '1001' }, result: { order_id: '1001', item: 'Mechanical keyboard', amount_cents: 12900, sku: 'KB-77A' }, tape: 'hit' },
};
const refund: Step = {
  step: 2, ordinal: 1, kind: 'tool', name: 'issue_refund', status: 'ok',
  detail: { arguments: { order_id: '1001', amount_cents: 12900, reason: 'asked' }, result: { refunded: true, refund_id: 501 }, tape: 'hit' },
};
const approved: Approval = {
  approvalId: 'a1', tool: 'issue_refund', status: 'approved', arguments: { order_id: '1001', amount_cents: 12900 }, editedArguments: null,
  requestedAt: '2026-01-01T00:00:01.000Z', decidedAt: '2026-01-01T00:00:03.000Z',
};

function run(overrides: Partial<ScoredRun> = {}): ScoredRun {
  return {
    runId: 'r1', status: 'completed', input: 'Refund order 1001', output: 'Done: I refunded 12900 cents for order 1001.', error: null,
    createdAt: '2026-01-01T00:00:00.000Z', startedAt: '2026-01-01T00:00:00.500Z', finishedAt: '2026-01-01T00:00:04.000Z',
    steps: [{ step: 1, ordinal: 0, kind: 'model', name: 'gpt-4o-mini', status: 'ok', detail: {} }, lookup, refund],
    approvals: [approved],
    usage: { costUsd: 0.0012 },
    ...overrides,
  };
}

const refundCase: GoldenCase = goldenCaseSchema.parse({
  id: 'refund-1001',
  input: 'Refund order 1001',
  approvals: [{ tool: 'issue_refund', decision: 'approve' }],
  expect: {
    outcome: 'completed', contains: ['refunded', '12900'], not_contains: ['sorry'],
    tools: [{ name: 'lookup_order', args: { order_id: '1001' } }, { name: 'issue_refund', args: { order_id: '1001', amount_cents: 12900 } }],
  },
});

describe('task success', () => {
  it('passes a run that reached the outcome and says what it must', () => {
    expect(scoreTaskSuccess(run(), refundCase)).toEqual({ pass: true, failures: [] });
  });

  it('names a wrong outcome, missing and forbidden text, and every call no tape covered', () => {
    const missed: Step = { ...refund, status: 'error', detail: { arguments: { order_id: '1001', amount_cents: 1000 }, result: { error: 'no tape' }, tape: 'missed' } };
    const failed = run({ status: 'failed', error: { code: 'tool_failed', message: 'boom' }, output: 'Sorry.', steps: [lookup, missed] });
    expect(scoreTaskSuccess(failed, refundCase).failures).toEqual([
      'expected outcome completed, the run ended failed (tool_failed: boom)',
      'the answer does not contain "refunded"',
      'the answer does not contain "12900"',
      'the answer contains "sorry"',
      'no tape covers issue_refund {"amount_cents":1000,"order_id":"1001"}',
    ]);
  });

  it("ANDs the judge's verdict", () => {
    expect(scoreTaskSuccess(run(), refundCase, { pass: false, score: 0.2, reason: 'rude' })).toEqual({ pass: false, failures: ['judge: rude'] });
  });

  it('tells refused and needs_approval outcomes apart', () => {
    expect(outcomeOf(run())).toEqual(['completed', 'needs_approval']);
    expect(outcomeOf(run({ approvals: [{ ...approved, status: 'rejected' }] }))).toEqual(['completed', 'needs_approval', 'refused']);
    expect(outcomeOf(run({ approvals: [] }))).toEqual(['completed', 'refused']);
    expect(outcomeOf(run({ status: 'step_limit' }))).toEqual(['failed']);
  });
});

describe('grounding', () => {
  it('extracts quoted values, identifiers and numbers of two digits or more', () => {
    expect(extractClaims('Order 1001 ("Mechanical keyboard", SKU KB-77A) cost 12,900 cents; 2 items, the 2nd one.')).toEqual([
      { kind: 'quote', text: 'Mechanical keyboard' },
      { kind: 'id', text: 'KB-77A' },
      { kind: 'number', text: '1001' },
      { kind: 'number', text: '12900' },
    ]);
  });

  it('passes claims found in tool results or the input', () => {
    expect(scoreGrounding(run({ output: 'Refunded 12,900 cents for "Mechanical keyboard" (KB-77A), order 1001, refund 501.' }))).toEqual({ pass: true, failures: [] });
  });

  it('fails each claim no tool result backs', () => {
    const check = scoreGrounding(run({ output: 'Refunded 13900 cents for "Gaming mouse", tracking ZX-9Q1.' }));
    expect(check.failures).toEqual([
      'the quote "Gaming mouse" is in no tool result',
      'the id "ZX-9Q1" is in no tool result',
      'the number 13900 is in no tool result',
    ]);
  });

  it('fails numbers when the run called no tool', () => {
    expect(scoreGrounding(run({ input: 'Hi', steps: [], output: 'Your order 4242 shipped.' })).pass).toBe(false);
  });
});

describe('tool-call accuracy', () => {
  it('passes the expected trajectory with argument subsets', () => {
    expect(scoreToolCalls(run(), refundCase)).toEqual({ pass: true, failures: [] });
  });

  it('fails a skipped call, a wrong argument and an unexpected call', () => {
    const other: Step = { ...lookup, name: 'send_email', detail: { arguments: { to: 'x' } } };
    const wrong: Step = { ...refund, detail: { arguments: { order_id: '1001', amount_cents: 1000 } } };
    expect(scoreToolCalls(run({ steps: [wrong, other] }), refundCase).failures).toEqual([
      'expected a call lookup_order {"order_id":"1001"}, none was made',
      'expected a call issue_refund {"amount_cents":12900,"order_id":"1001"} (in order), the agent called it with {"amount_cents":1000,"order_id":"1001"}',
      'unexpected call issue_refund {"amount_cents":1000,"order_id":"1001"}',
      'unexpected call send_email {"to":"x"}',
    ]);
  });

  it('checks the order only when the case says so', () => {
    const reversed = run({ steps: [refund, lookup] });
    expect(scoreToolCalls(reversed, refundCase).pass).toBe(false);
    expect(scoreToolCalls(reversed, { ...refundCase, expect: { ...refundCase.expect, ordered: false } }).pass).toBe(true);
  });

  it("reads a rejected call's arguments from its approval", () => {
    const rejected: Step = { ...refund, status: 'rejected', detail: { approvalId: 'a1', error: 'a human reviewer rejected this action' } };
    expect(scoreToolCalls(run({ steps: [lookup, rejected], approvals: [{ ...approved, status: 'rejected' }] }), refundCase).pass).toBe(true);
  });

  it('passes anything when the case states no trajectory, and only no calls for []', () => {
    const noTrajectory = { ...refundCase, expect: { ...refundCase.expect, tools: undefined } };
    expect(scoreToolCalls(run({ steps: [] }), noTrajectory).pass).toBe(true);
    expect(scoreToolCalls(run(), { ...refundCase, expect: { ...refundCase.expect, tools: [] } }).pass).toBe(false);
  });
});

describe('approvals, latency, cost', () => {
  it('compares the approvals asked with those expected', () => {
    expect(scoreApprovals(run(), refundCase).pass).toBe(true);
    expect(scoreApprovals(run({ approvals: [] }), refundCase).failures).toEqual(['approvals asked: none; expected: issue_refund']);
  });

  it('measures latency from start to end without the time a human took', () => {
    expect(latencyMsOf(run())).toBe(3500 - 2000);
    expect(latencyMsOf(run({ finishedAt: null }))).toBe(0);
  });

  it('scores a whole run', () => {
    const score = scoreRun(run(), refundCase);
    expect(score).toMatchObject({ runId: 'r1', passed: true, latencyMs: 1500, costUsd: 0.0012 });
    expect(scoreRun(run({ output: 'Refunded 99999 cents.' }), refundCase).passed).toBe(false);
  });
});
