import { describe, expect, it } from 'vitest';
import { REPLACEMENT_CHARACTER as R, storableJson, storableText } from '../../src/shared/storable';

describe('storable text', () => {
  it('replaces U+0000 and lone surrogates with U+FFFD and counts them', () => {
    expect(storableText('a\u0000b\u0000')).toEqual({ value: `a${R}b${R}`, replaced: 2 });
    expect(storableText('high \uD800 low \uDC00 end \uDBFF')).toEqual({ value: `high ${R} low ${R} end ${R}`, replaced: 3 });
    // A low surrogate before its high one is two lone halves.
    expect(storableText('\uDE00\uD83D')).toEqual({ value: `${R}${R}`, replaced: 2 });
  });

  it('keeps surrogate pairs, other control characters and ordinary text as they are', () => {
    for (const text of ['plain', 'emoji \uD83D\uDE00 and 😀', 'tab\tnewline\n\u0001\u007f', '', 'U+FFFD itself: \uFFFD']) {
      expect(storableText(text)).toEqual({ value: text, replaced: 0 });
    }
  });

  it('makes every string and key of a JSON value storable, leaving the input untouched', () => {
    const input = { 'k\u0000': ['x\uD800', { deep: 'ok', n: 1, b: true, z: null }], at: new Date(0) };
    const { value, replaced } = storableJson(input);
    expect(replaced).toBe(2);
    expect(value).toEqual({ [`k${R}`]: [`x${R}`, { deep: 'ok', n: 1, b: true, z: null }], at: new Date(0) });
    expect(Object.keys(input)[0]).toBe('k\u0000');
    const clean = { a: ['b'] };
    expect(storableJson(clean).value).toBe(clean);
  });
});
