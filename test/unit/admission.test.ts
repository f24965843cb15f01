import { describe, expect, it } from 'vitest';
import { allocateSlots, liveWindowsOf, recheckAfterMs, retryDelayMs, type QueuedRun } from '../../src/activities/admission';

/** `spec` like "a1 a2 b1": runs of tenants a and b, oldest first; a `?` suffix marks one that has not polled yet. */
const line = (spec: string): QueuedRun[] =>
  spec.split(' ').map((id) => ({ runId: id.replace('?', ''), tenantId: id[0]!, live: !id.endsWith('?') }));

const allocate = (spec: string, running: Record<string, number>, globalLimit: number, limits: Record<string, number> = {}, perTenant = 10) =>
  allocateSlots({ globalLimit, running: new Map(Object.entries(running)), limitOf: (t) => limits[t] ?? perTenant, queued: line(spec) });

describe('run admission', () => {
  it('keeps the global and the per-tenant limits, first in first out within a tenant', () => {
    expect(allocate('a1 a2 a3 a4 a5', {}, 10, {}, 3)).toEqual(['a1', 'a2', 'a3']);
    expect(allocate('a1 a2 a3 a4 a5', { a: 2 }, 10, {}, 3)).toEqual(['a1']);
    expect(allocate('a1 a2 a3', { b: 4 }, 5)).toEqual(['a1']);
    expect(allocate('a1 a2 a3', { b: 5 }, 5)).toEqual([]);
  });

  it('honours per-tenant overrides', () => {
    expect(allocate('a1 a2 a3 b1 b2 b3', {}, 10, { a: 1 }, 2)).toEqual(['a1', 'b1', 'b2']);
  });

  it('gives contested slots to the tenant with the fewest running runs, ties to the oldest queued run', () => {
    // The flooding tenant a queued first, but b runs fewer.
    expect(allocate('a5 a6 a7 b1 b2', { a: 3, b: 0 }, 4)).toEqual(['b1']);
    expect(allocate('a5 a6 a7 b1 b2', { a: 2, b: 1 }, 4)).toEqual(['b1']);
    expect(allocate('a5 a6 a7 b1 b2', { a: 2, b: 0 }, 5)).toEqual(['b1', 'b2', 'a5']);
    expect(allocate('b1 a1', {}, 1)).toEqual(['b1']);
    expect(allocate('a1 b1', {}, 1)).toEqual(['a1']);
    // Uncontested: everyone fits.
    expect(allocate('a1 a2 a3 b1', { a: 1 }, 10)).toEqual(['b1', 'a1', 'a2', 'a3']);
  });

  it('converges to an even split under a flood', () => {
    const flood = Array.from({ length: 40 }, (_, i) => `a${i}`).join(' ');
    const admitted = allocate(`${flood} b1 b2 b3 c1`, {}, 8);
    const per = (t: string) => admitted.filter((id) => id.startsWith(t)).length;
    expect([per('a'), per('b'), per('c')]).toEqual([4, 3, 1]);
  });

  it('never admits a run out of its tenant\'s order, nor one that has not polled yet', () => {
    expect(allocate('a1? a2 b1', {}, 10)).toEqual(['b1']);
    expect(allocate('a1 a2? a3 b1', {}, 10)).toEqual(['a1', 'b1']);
  });

  it('polls the head of a line often and the back of it less', () => {
    expect(retryDelayMs(1)).toBe(300);
    expect(retryDelayMs(5)).toBe(300);
    expect(retryDelayMs(20)).toBe(1800);
    expect(retryDelayMs(500)).toBe(5000);
  });

  it('has a waiting run poll once per safety poll at the front of its line, less often further back, and stay live in between', () => {
    const middle = 0.5;
    expect(recheckAfterMs(1, 60_000, middle)).toBe(60_000);
    expect(recheckAfterMs(undefined, 60_000, middle)).toBe(60_000);
    expect(recheckAfterMs(10, 60_000, middle)).toBe(60_000);
    expect(recheckAfterMs(25, 60_000, middle)).toBe(180_000);
    expect(recheckAfterMs(5_000, 60_000, middle)).toBe(600_000);
    expect([recheckAfterMs(1, 60_000, 0), recheckAfterMs(1, 60_000, 0.999)]).toEqual([54_000, 65_988]);
    // The longest wait between two polls, jitter included, still counts as live.
    expect(liveWindowsOf(60_000).liveWindowMs).toBeGreaterThan(recheckAfterMs(5_000, 60_000, 0.999));
  });
});
