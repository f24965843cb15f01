/**
 * The anonymiser of shadow replay (src/shared/anonymise.ts): the inputs an adversarial tester found
 * leaking, what must be kept, JSON keys, tenant patterns that could take exponential time, and
 * linear time on 2 MiB adversarial inputs.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { shadowingRequestSchema } from '../../src/contract/shadows';
import { keyedAnonymiser } from '../../src/secrets/pseudonyms';
import { WITHHELD, createAnonymiser, patternProblems } from '../../src/shared/anonymise';

const hash = (kind: string, value: string) => createHash('sha256').update(`${kind}:${value}`).digest('hex');
const names = ['Ada Lovelace', 'Zoë', 'Łukasz Nowak', 'José Álvarez'];
const anonymiser = createAnonymiser({ names, patterns: ['CUST-\\d+'] }, hash);

describe('what leaked before', () => {
  // [input, the personal detail that must not survive (compared on NFC text, digits as ASCII)]
  const leaks: [string, string][] = [
    ['write to josé@mail.example.com today', 'josé'],
    ['write to ada@bücher.example.', 'bücher'],
    ['card 4111.1111.1111.1111', '4111'],
    ['card 4111 1111 1111 1000 (no Luhn check)', '4111'],
    ['card 4111  1111  1111  1111', '4111'],
    ['card 4111\u00001111\u00001111\u00001111', '4111'],
    ['card ４１１１ １１１１ １１１１ １１１１', '4111'],
    ['call 555-010-4477', '4477'],
    ['call 555.010.4477', '4477'],
    ['call 1-555-010-4477', '4477'],
    ['call (555) 010-4477', '4477'],
    ['call +44 20 7946 0958', '0958'],
    ['call 0044 20 7946 0958', '0958'],
    ['call 020 7946 0958', '0958'],
    ['Zoë paid', 'Zoë'],
    ['paid by Zoë', 'Zoë'],
    ['Łukasz Nowak paid', 'Łukasz'],
    ['Łukasz  Nowak paid', 'Łukasz'],
    ['Łukasz\nNowak paid', 'Łukasz'],
    ['Zoe\u0308 paid', 'Zoë'],
    ['ADA LOVELACE paid', 'ADA'],
    ['José Álvarez paid', 'José'],
    ['account 12345678', '12345678'],
    ['IBAN GB82 WEST 1234 5698 7654 32', 'GB82'],
    ['customer CUST-991', 'CUST-991'],
  ];
  it.each(leaks)('%j is anonymised', (input, detail) => {
    const out = anonymiser.text(input).normalize('NFKC');
    expect(out).not.toContain(detail);
    expect(out.toLowerCase()).not.toContain(detail.toLowerCase());
  });

  it('anonymises JSON object keys that are personal details, and keeps structural keys', () => {
    const out = anonymiser.json({ 'ada@mail.example.com': { order_id: 1001, note: 'Zoë' }, list: [{ 'Ada Lovelace': true }] });
    expect(JSON.stringify(out)).not.toMatch(/ada@mail|Zoë|Ada Lovelace/);
    expect(Object.keys(out)).toEqual([expect.stringMatching(/^user-[0-9a-f]+@example\.invalid$/), 'list']);
    expect(Object.values(out)[0]).toEqual({ order_id: 1001, note: expect.stringMatching(/^Person-/) });
  });

  it('gives a value the same pseudonym in any form (full-width digits, separators, NFD, case)', () => {
    expect(anonymiser.text('４１１１ １１１１ １１１１ １１１１')).toBe(anonymiser.text('4111 1111 1111 1111'));
    expect(anonymiser.text('zoe\u0308')).toBe(anonymiser.text('ZOË'));
  });
});

describe('what is kept', () => {
  const kept = ['order 1001', 'on 2026-11-30', 'at 10:30', 'from 2026-11-30 - 2026-12-01', 'on 30.11.2026', 'on 01.12.2026 10:30', 'version 1.2.3', 'Zoëy and Adalovelace', 'total 1,234.56'];
  it.each(kept)('%j stays as it is', (input) => expect(anonymiser.text(input)).toBe(input));
});

describe('tenant patterns', () => {
  it('refuses patterns that may take exponential time, by index', () => {
    expect(patternProblems(['CUST-\\d+', '(a+)+$', '[A-Z]{2}-\\d{6}', '(\\w+\\s?)+$'])).toEqual([
      expect.stringMatching(/^patterns\.1: may take exponential time/),
      expect.stringMatching(/^patterns\.3: may take exponential time/),
    ]);
  });

  it('are refused with a 400 problem naming the pattern (the contract every route parses with)', () => {
    const parsed = shadowingRequestSchema.safeParse({ rate: 0.5, patterns: ['CUST-\\d+', '(a+)+$'] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['patterns', expect.stringMatching(/^patterns\.1: may take exponential time/)],
    ]);
  });

  it('leave text alone where they match nothing (a lookaround, a word boundary)', () => {
    const empty = createAnonymiser({ names: [], patterns: ['(?<=a)', '\\b', 'CUST-\\d+'] }, hash);
    expect(empty.text('Earlier in this conversation')).toBe('Earlier in this conversation');
    expect(empty.text('ref CUST-42 here')).toMatch(/^ref \[anon-[0-9a-f]{10}\] here$/);
  });

  it('withholds a value whole when the patterns exceed their time box', () => {
    // (a|a)*b passes safe-regex2 (star height 1) yet backtracks exponentially: the time box is the backstop.
    expect(patternProblems(['(a|a)*b'])).toEqual([]);
    const slow = keyedAnonymiser({ names: [], patterns: ['(a|a)*b'] });
    expect(slow.text(`ada@example.com ${'a'.repeat(40)}`)).toBe(WITHHELD);
    expect(slow.text('aab')).toMatch(/^\[anon-[0-9a-f]+\]$/);
  });
});

describe('cost', () => {
  // Every built-in rule scans linearly; quadratic rules took about 2 s on 40k characters, so on 2 MiB
  // they would take over an hour. No timing is asserted: the test timeout is the bound.
  const mib2 = 2 * 1024 * 1024;
  const adversarial = ['a', '1', 'a@', '1 ', 'a.', '1.', '+1 ', '(1)', '@a', 'a@a.', '１', '1\u0000', 'GB82 ', 'Łukasz '];
  it.each(adversarial)('anonymises 2 MiB of %j', (unit) => {
    const input = unit.repeat(Math.floor(mib2 / unit.length));
    const out = keyedAnonymiser({ names, patterns: ['CUST-\\d+'] }).text(input);
    expect(out.length).toBeGreaterThan(0);
  }, 10_000);

  it('anonymises 2 MiB of words against 10,000 names (names are looked up, not tried one by one)', () => {
    const many = [...Array.from({ length: 10_000 }, (_, i) => `Name${i} Surname${i}`), 'Łukasz Nowak'];
    const input = 'the quick brown Name1 fox Surname1 jumps over Łukasz  Nowak '.repeat(Math.floor(mib2 / 60));
    const out = keyedAnonymiser({ names: many, patterns: [] }).text(input);
    expect(out).not.toMatch(/Łukasz/);
    expect(out).toContain('Name1 fox Surname1');
  }, 10_000);
});
