import { describe, expect, it } from 'vitest';
import { REDACTED } from '../../src/shared/redaction';
import { matchTape, missedTapeMessage, tapeCovers, tapeOfRecordedCall, tapesSchema, type TapeEntry } from '../../src/shared/tapes';

const lookup = (args?: Record<string, unknown>, result: unknown = {}): TapeEntry => ({ tool: 'lookup_order', ...(args && { args }), result });

/** Each call in turn takes the first unused covering entry: the indices taken, undefined for a miss. */
function answer(entries: TapeEntry[], calls: { tool: string; args: unknown }[]): (number | undefined)[] {
  const used = new Set<number>();
  return calls.map((call) => {
    const index = matchTape(entries, used, call);
    if (index !== undefined) used.add(index);
    return index;
  });
}

describe('tape matching', () => {
  it('covers a call of the same tool whose arguments hold every key of the entry, equal in depth', () => {
    const entry = lookup({ order_id: '1001', filter: { fields: ['a', 'b'] } });
    expect(tapeCovers(entry, { tool: 'lookup_order', args: { order_id: '1001', filter: { fields: ['a', 'b'] }, extra: 1 } })).toBe(true);
    expect(tapeCovers(entry, { tool: 'lookup_order', args: { order_id: '1001', filter: { fields: ['b', 'a'] } } })).toBe(false);
    expect(tapeCovers(entry, { tool: 'lookup_order', args: { order_id: '1002', filter: { fields: ['a', 'b'] } } })).toBe(false);
    expect(tapeCovers(entry, { tool: 'lookup_order', args: { order_id: '1001' } })).toBe(false);
    expect(tapeCovers(entry, { tool: 'issue_refund', args: { order_id: '1001', filter: { fields: ['a', 'b'] } } })).toBe(false);
  });

  it('takes a number and its string as different values, and a key given as null as required to be null', () => {
    expect(tapeCovers(lookup({ order_id: 1001 }), { tool: 'lookup_order', args: { order_id: '1001' } })).toBe(false);
    expect(tapeCovers(lookup({ note: null }), { tool: 'lookup_order', args: {} })).toBe(false);
    expect(tapeCovers(lookup({ note: null }), { tool: 'lookup_order', args: { note: null } })).toBe(true);
  });

  it('covers any call of the tool with no or empty args, whatever the call carries', () => {
    expect(tapeCovers(lookup(), { tool: 'lookup_order', args: { order_id: '7' } })).toBe(true);
    expect(tapeCovers(lookup({}), { tool: 'lookup_order', args: undefined })).toBe(true);
    expect(tapeCovers(lookup({ order_id: '7' }), { tool: 'lookup_order', args: undefined })).toBe(false);
  });

  it('answers each call from the first unused covering entry, in the tapes order, and misses once they are used up', () => {
    const entries = [lookup({ order_id: '1' }, 'first'), lookup(undefined, 'any'), lookup({ order_id: '1' }, 'second')];
    const call = { tool: 'lookup_order', args: { order_id: '1' } };
    expect(answer(entries, [call, call, call, call])).toEqual([0, 1, 2, undefined]);
    // A call the generic entry covers takes it before a later specific entry is reached.
    expect(answer(entries, [{ tool: 'lookup_order', args: { order_id: '2' } }, call, call])).toEqual([1, 0, 2]);
  });

  it('misses a call of a tool no entry names', () => {
    expect(answer([lookup()], [{ tool: 'issue_refund', args: { order_id: '1' } }])).toEqual([undefined]);
  });

  it('tells the model which call was not covered', () => {
    expect(missedTapeMessage({ tool: 'lookup_order', args: { order_id: '9' } })).toBe('no tape covers this call: lookup_order {"order_id":"9"}');
  });
});

describe('tapes as the API takes them', () => {
  it('accepts entries with a result of any JSON shape, and lists every problem of the others', () => {
    expect(tapesSchema.safeParse([{ tool: 'a', result: null }, { tool: 'b', args: {}, result: [1], status: 'error' }]).success).toBe(true);
    const parsed = tapesSchema.safeParse([{ tool: '', result: 1 }, { tool: 'a' }, { tool: 'a', result: 1, status: 'maybe' }, { tool: 'a', result: 1, when: 1 }]);
    const paths = parsed.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['0.tool', '1.result', '2.status', '3']));
  });

  it('takes at most 500 entries', () => {
    expect(tapesSchema.safeParse(Array.from({ length: 500 }, () => lookup())).success).toBe(true);
    expect(tapesSchema.safeParse(Array.from({ length: 501 }, () => lookup())).success).toBe(false);
  });
});

describe('a recorded call as a tape entry', () => {
  it('keeps the redacted result, and leaves out the arguments redaction masked, so the entry still covers the call', () => {
    const entry = tapeOfRecordedCall({
      tool: 'lookup_order', status: 'ok',
      args: { order_id: '1001', email: REDACTED, card: { number: REDACTED, brand: 'visa' } },
      result: { order_id: '1001', customer: REDACTED },
    });
    expect(entry).toEqual({ tool: 'lookup_order', args: { order_id: '1001' }, result: { order_id: '1001', customer: REDACTED }, status: 'ok' });
    expect(tapeCovers(entry, { tool: 'lookup_order', args: { order_id: '1001', email: 'a@b.c', card: { number: '4242', brand: 'visa' } } })).toBe(true);
  });
});
