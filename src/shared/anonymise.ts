/**
 * Anonymisation of production inputs for shadow replay (issue 15): emails, phone numbers, card and
 * account numbers, names from a configured list, and patterns the tenant adds are replaced by
 * pseudonyms. Deterministic per value (the caller's keyed hash, e.g. an HMAC), so the same email in
 * a run's input and in its tool results becomes the same pseudonym and the conversation stays
 * coherent. Pure: the keyed hash comes from outside.
 */

export type PiiKind = 'email' | 'phone' | 'card' | 'account' | 'name' | 'pattern';

/** A keyed hash of a value, as hex (at least 16 characters): the same value, the same hash, within one replay. */
export type KeyedHash = (kind: PiiKind, value: string) => string;

export interface AnonymiseSettings {
  /** Names to replace wherever they appear (case-insensitive, whole words). */
  names: readonly string[];
  /** Regular expression sources the tenant adds; each match is replaced. */
  patterns: readonly string[];
}

const email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// IBAN-like account numbers: two letters, two check digits, 11–30 letters or digits (spaces allowed in groups of four).
const iban = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g;
// 13–19 digits in groups separated by single spaces or dashes: card numbers.
const card = /\b\d(?:[ -]?\d){12,18}\b/g;
// Phone numbers: international (+44 20 7946 0958), bracketed ((555) 010-4477) or national with a leading 0 (020 7946 0958).
// Dates (2026-11-30) do not match: each form needs a +, a bracket or a leading 0 and seven digits or more.
const phone = /\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){1,5}\d\b|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4}\b|\b0\d{2,4}[ .-]\d{3,4}[ .-]?\d{3,4}\b/g;
// 8–12 bare digits: account numbers (shorter runs, such as order numbers, are left alone).
const account = /\b\d{8,12}\b/g;

/** The digits of `hash` (hex) as decimal digits, `length` of them: a digit string that does not reveal the original. */
function digitsOf(hash: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += (parseInt(hash[i % hash.length]!, 16) % 10).toString();
  return out;
}

/** Keeps a number's separators (spaces, dashes, brackets) and replaces each digit. */
function sameShape(value: string, digits: string): string {
  let i = 0;
  return value.replace(/\d/g, () => digits[i++]!);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** 400-style problems for the tenant's patterns: each must compile and must not match the empty string. */
export function patternProblems(patterns: readonly string[]): string[] {
  return patterns.flatMap((source, i) => {
    try {
      return new RegExp(source, 'u').test('') ? [`patterns.${i}: matches the empty string`] : [];
    } catch (err) {
      return [`patterns.${i}: ${(err as Error).message}`];
    }
  });
}

/** The form a value is hashed in: a name in any case, a number with any separators, is the same value. */
function canonical(kind: PiiKind, match: string): string {
  if (kind === 'name') return match.toLowerCase();
  if (kind === 'card' || kind === 'phone' || kind === 'account') return match.replace(/[\s().-]/g, '');
  return match;
}

export interface Anonymiser {
  text(value: string): string;
  /** Every string inside a JSON value (object keys kept). */
  json<T>(value: T): T;
}

/** An anonymiser for one replay: the same value always gets the same pseudonym under the same `hash`. */
export function createAnonymiser(settings: AnonymiseSettings, hash: KeyedHash): Anonymiser {
  const nameRule = settings.names.length
    ? new RegExp(`\\b(?:${[...settings.names].sort((a, b) => b.length - a.length).map(escape).join('|')})\\b`, 'giu')
    : undefined;
  const rules: [PiiKind, RegExp, (match: string, h: string) => string][] = [
    ['email', email, (_m, h) => `user-${h.slice(0, 10)}@example.invalid`],
    ...settings.patterns.map((source): [PiiKind, RegExp, (match: string, h: string) => string] =>
      ['pattern', new RegExp(source, 'gu'), (_m, h) => `[anon-${h.slice(0, 10)}]`]),
    ['account', iban, (m, h) => `XX00${digitsOf(h, m.replace(/ /g, '').length - 4)}`],
    ['card', card, (m, h) => sameShape(m, digitsOf(h, 19))],
    ['phone', phone, (m, h) => sameShape(m, digitsOf(h, 20))],
    ['account', account, (m, h) => digitsOf(h, m.length)],
    ...(nameRule ? [['name', nameRule, (_m: string, h: string) => `Person-${h.slice(0, 8)}`] as [PiiKind, RegExp, (match: string, h: string) => string]] : []),
  ];
  const text = (value: string) =>
    rules.reduce((out, [kind, rule, replace]) => out.replace(rule, (m) => replace(m, hash(kind, canonical(kind, m)))), value);
  const json = (value: unknown): unknown => {
    if (typeof value === 'string') return text(value);
    if (Array.isArray(value)) return value.map(json);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)]));
    return value;
  };
  return { text, json: <T>(value: T) => json(value) as T };
}
