/**
 * Anonymisation of production inputs for shadow replay (issue 15): emails, phone numbers, card and
 * account numbers, names from a configured list, and patterns the tenant adds are replaced by
 * pseudonyms. Deterministic per value (the caller's keyed hash, e.g. an HMAC), so the same email in
 * a run's input and in its tool results becomes the same pseudonym and the conversation stays
 * coherent. Pure: the keyed hash (and the tenant patterns' time box) come from outside.
 *
 * Text is NFC-normalised first (the anonymised text is the normalised one); matching is Unicode-aware
 * (any letter or digit, full-width digits count as digits, control characters such as U+0000 between
 * digit groups count as separators). Every built-in rule is linear in the text's length: emails are
 * found from each '@' outwards, numbers as maximal runs of digit groups classified group by group,
 * IBANs by an expression whose work at each position is bounded, names by looking words up in a map.
 */
import safeRegex from 'safe-regex2';

export type PiiKind = 'email' | 'phone' | 'card' | 'account' | 'name' | 'pattern';

/** A keyed hash of a value, as hex (at least 16 characters): the same value, the same hash, within one replay. */
export type KeyedHash = (kind: PiiKind, value: string) => string;

/**
 * Runs `apply` (the tenant patterns over one value) under a time box; throws when it is exceeded.
 * The anonymiser then withholds the whole value (WITHHELD), so a slow pattern never leaks.
 */
export type PatternTimeBox = (apply: () => string) => string;

/** What a value becomes when the tenant's patterns exceed their time box on it. */
export const WITHHELD = '[withheld: anonymisation timed out]';

export interface AnonymiseSettings {
  /** Names to replace wherever they appear (case-insensitive, whole words, any whitespace between words). */
  names: readonly string[];
  /** Regular expression sources the tenant adds; each match is replaced. */
  patterns: readonly string[];
}

// Characters of an email's local part and domain (any letter or digit, as in internationalised addresses).
const localChar = /[\p{L}\p{N}\p{M}._%+-]/u;
const domainChar = /[\p{L}\p{N}\p{M}.-]/u;
const tld = /^[\p{L}\p{M}]{2,}$/u;

// IBAN-like account numbers: two letters, two check digits, 11–30 letters or digits (spaces allowed in groups of four).
const iban = /(?<![\p{L}\p{N}])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\p{L}\p{N}])/gu;
// A run of digit groups: an optional '+' or '(', then digits separated by at most 3 separators (spaces,
// dashes, dots, brackets, slashes, control characters other than line breaks and tabs). Digit and
// separator classes are disjoint, so each run is matched once, greedily, and consumed: linear.
const SEP = '[\\p{Zs}.()/\\-\\x00-\\x08\\x0E-\\x1F\\x7F-\\x84\\x86-\\x9F]';
const numberRun = new RegExp(`(?<![\\p{L}\\p{N}])[+(]?\\p{Nd}+(?:${SEP}{1,3}\\p{Nd}+)*\\)?(?![\\p{L}\\p{N}])`, 'gu');
const digitGroup = /\p{Nd}+/gu;
const asciiDigits = /^[0-9]+$/;

/** The digits of `hash` (hex) as decimal digits, `length` of them: a digit string that does not reveal the original. */
function digitsOf(hash: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += (parseInt(hash[i % hash.length]!, 16) % 10).toString();
  return out;
}

/** Keeps a number's separators (spaces, dashes, brackets) and replaces each digit (any script) by an ASCII one. */
function sameShape(value: string, digits: string): string {
  let i = 0;
  return value.replace(/\p{Nd}/gu, () => digits[i++]!);
}

/**
 * 400-style problems for the tenant's patterns: each must compile, must not match the empty string,
 * and must not risk exponential time (nested quantifiers such as `(a+)+`, as judged by safe-regex2).
 */
export function patternProblems(patterns: readonly string[]): string[] {
  return patterns.flatMap((source, i) => {
    try {
      if (new RegExp(source, 'u').test('')) return [`patterns.${i}: matches the empty string`];
    } catch (err) {
      return [`patterns.${i}: ${(err as Error).message}`];
    }
    return safeRegex(source) ? [] : [`patterns.${i}: may take exponential time (nested or too many quantifiers); simplify it`];
  });
}

/** The form a value is hashed in: a name in any case, a number with any separators or digits of any width, is the same value. */
function canonical(kind: PiiKind, match: string): string {
  if (kind === 'name') return match.toLowerCase().replace(/\s+/gu, ' ');
  if (kind === 'card' || kind === 'phone' || kind === 'account') return match.normalize('NFKC').replace(/[^\p{Nd}]/gu, '');
  return match.normalize('NFKC');
}

type Replace = (kind: PiiKind, match: string) => string;

/** Each email in `text`, found from its '@': the local part leftwards, the domain rightwards (each character looked at once or twice). */
function replaceEmails(text: string, replace: Replace): string {
  let out = '';
  let done = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > done && localChar.test(text[start - 1]!)) start--;
    while (start < at && text[start] === '.') start++;
    let end = at + 1;
    while (end < text.length && domainChar.test(text[end]!)) end++;
    while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
    const domain = text.slice(at + 1, end);
    const labels = domain.split('.');
    if (start === at || labels.length < 2 || labels.some((label) => !label) || !tld.test(labels.at(-1)!)) continue;
    out += text.slice(done, start) + replace('email', text.slice(start, end));
    done = end;
    at = end - 1;
  }
  return out + text.slice(done);
}

/** A group of digits in a run: where it is, how many digits, and whether a bracket or slash comes before it. */
interface Group { start: number; end: number; digits: number; text: string; bracketBefore: boolean }

/** The kind of number `groups[i..]` starts, and how many groups it takes; undefined: group i is kept. */
function numberAt(run: string, groups: Group[], i: number): [PiiKind, number] | undefined {
  const first = groups[i]!;
  // Cards: 13–19 digits, in groups of 3 or more (4111 1111 …, 3782 822463 10005) or one by one, without
  // brackets or slashes between them (the longest such run of groups). Dates (2026-11-30) have groups of 2.
  // No Luhn check: a card number with a typo is still one, so a list of 4-digit numbers whose digits
  // add up to 13–19 (1001 1002 1003 1004) is replaced too.
  const single = first.digits === 1;
  let count = 0;
  let card = 0;
  for (let j = i; j < groups.length && count + groups[j]!.digits <= 19; j++) {
    const g = groups[j]!;
    if ((single ? g.digits !== 1 : g.digits < 3) || (j > i && g.bracketBefore)) break;
    if ((count += g.digits) >= 13) card = j - i + 1;
  }
  if (card) return ['card', card];
  const length = (k: number) => groups[i + k]?.digits ?? 0;
  // International (+44 20 7946 0958, 0044 20 7946 0958): a '+' or '00' and 7–15 digits in groups of at most 4.
  const plus = i === 0 && run.startsWith('+');
  if (plus || /^00\p{Nd}{0,3}$/u.test(first.text)) {
    const max = plus ? 15 : 17;
    let total = 0;
    let n = 0;
    while (n < 6 && length(n) && length(n) <= 5 && total + length(n) <= max) total += length(n++);
    if (total >= 7 + (plus ? 0 : 2)) return ['phone', n];
  }
  // Bracketed ((555) 010-4477), leading 0 (020 7946 0958), or national 3-3-4 (555-010-4477, 1-555-010-4477).
  const [a, b, c, d] = [length(0), length(1), length(2), length(3)];
  if (run[first.start - 1] === '(' && a >= 2 && a <= 4 && b >= 3 && b <= 4 && c >= 3 && c <= 4) return ['phone', 3];
  if (first.text.startsWith('0') && a >= 3 && a <= 5 && b >= 3 && b <= 4 && c >= 3 && c <= 4) return ['phone', 3];
  if (first.text.startsWith('0') && a >= 3 && a <= 5 && b >= 6 && b <= 8) return ['phone', 2];
  if (a === 1 && b === 3 && c === 3 && d === 4) return ['phone', 4];
  if (a === 3 && b === 3 && c === 4) return ['phone', 3];
  // Account numbers: 8–12 digits in one group (shorter ones, such as order numbers, are kept).
  if (a >= 8 && a <= 12) return ['account', 1];
  return undefined;
}

/** One run of digit groups with its cards, phones and account numbers replaced (dates, times, order numbers kept). */
function replaceNumbersIn(run: string, replace: Replace): string {
  let previousEnd = 0;
  const groups: Group[] = [...run.matchAll(digitGroup)].map(({ 0: text, index: start }) => {
    const digits = asciiDigits.test(text) ? text.length : [...text].length;
    const group = { start, end: start + text.length, digits, text, bracketBefore: /[()/]/.test(run.slice(previousEnd, start)) };
    previousEnd = group.end;
    return group;
  });
  let out = '';
  let done = 0;
  for (let i = 0; i < groups.length;) {
    const found = numberAt(run, groups, i);
    if (!found) { i++; continue; }
    const [kind, count] = found;
    let start = groups[i]!.start;
    let end = groups[i + count - 1]!.end;
    if (kind === 'phone' && i === 0 && /^[+(]/.test(run)) start = 0;
    if (kind === 'phone' && run[end] === ')') end++;
    out += run.slice(done, start) + replace(kind, run.slice(start, end));
    done = end;
    i += count;
  }
  return out + run.slice(done);
}

const word = /[\p{L}\p{N}\p{M}]+/gu;
/** What lies between two words, compared with any run of whitespace as one space. */
const gap = (text: string) => text.replace(/\s+/gu, ' ');

/** A listed name as its words (lower case) and what lies between them. */
interface Name { words: string[]; gaps: string[] }

/**
 * Replaces the listed names in `text`, whole words, in any case, with any whitespace between their
 * words: the text's words are looked up by first word in a map, so the cost is linear in the text
 * whatever the number of names (times the names sharing a first word). `text` and names are NFC.
 */
function nameReplacer(names: readonly string[]): ((text: string, replace: Replace) => string) | undefined {
  const byFirst = new Map<string, Name[]>();
  for (const name of names) {
    const matches = [...name.normalize('NFC').matchAll(word)];
    if (!matches.length) continue;
    const entry = {
      words: matches.map((m) => m[0].toLowerCase()),
      gaps: matches.slice(1).map((m, k) => gap(name.slice(matches[k]!.index + matches[k]![0].length, m.index))),
    };
    byFirst.set(entry.words[0]!, [...(byFirst.get(entry.words[0]!) ?? []), entry]);
  }
  for (const entries of byFirst.values()) entries.sort((x, y) => y.words.length - x.words.length);
  if (!byFirst.size) return undefined;
  return (text, replace) => {
    const words = [...text.matchAll(word)].map((m) => ({ start: m.index, end: m.index + m[0].length, lower: m[0].toLowerCase() }));
    const fits = (name: Name, k: number) => name.words.every((w, n) => words[k + n]?.lower === w
      && (n === 0 || gap(text.slice(words[k + n - 1]!.end, words[k + n]!.start)) === name.gaps[n - 1]));
    let out = '';
    let done = 0;
    for (let k = 0; k < words.length; k++) {
      const name = byFirst.get(words[k]!.lower)?.find((candidate) => fits(candidate, k));
      if (!name) continue;
      const end = words[k + name.words.length - 1]!.end;
      out += text.slice(done, words[k]!.start) + replace('name', text.slice(words[k]!.start, end));
      done = end;
      k += name.words.length - 1;
    }
    return out + text.slice(done);
  };
}

/** An anonymiser for one replay: the same value always gets the same pseudonym under the same `hash`. */
export interface Anonymiser {
  text(value: string): string;
  /** Every string inside a JSON value, object keys included (a key that is an email becomes its pseudonym). */
  json<T>(value: T): T;
}

/**
 * An anonymiser for one replay: the same value always gets the same pseudonym under the same `hash`.
 * `timeBox` bounds the tenant's patterns on each value (their cost is not linear in general); without
 * one they run unbounded (tests).
 */
export function createAnonymiser(settings: AnonymiseSettings, hash: KeyedHash, timeBox: PatternTimeBox = (apply) => apply()): Anonymiser {
  const pseudonyms: Record<PiiKind, (match: string, h: string) => string> = {
    email: (_m, h) => `user-${h.slice(0, 10)}@example.invalid`,
    pattern: (_m, h) => `[anon-${h.slice(0, 10)}]`,
    account: (m, h) => (/^[A-Z]{2}/.test(m) ? `XX00${digitsOf(h, m.replace(/ /g, '').length - 4)}` : digitsOf(h, [...m].length)),
    card: (m, h) => sameShape(m, digitsOf(h, 19)),
    phone: (m, h) => sameShape(m, digitsOf(h, 20)),
    name: (_m, h) => `Person-${h.slice(0, 8)}`,
  };
  const replace: Replace = (kind, match) => pseudonyms[kind](match, hash(kind, canonical(kind, match)));
  const patterns = settings.patterns.map((source) => new RegExp(source, 'gu'));
  const replaceNames = nameReplacer(settings.names);
  // A pattern that matches nothing at some position (a lookaround, \b) leaves the text as it is there.
  const applyPatterns = (value: string) => patterns.reduce((out, rule) => out.replace(rule, (m) => (m === '' ? m : replace('pattern', m))), value);
  const text = (value: string) => {
    let out = replaceEmails(value.normalize('NFC'), replace);
    if (patterns.length) {
      try {
        out = timeBox(() => applyPatterns(out));
      } catch {
        return WITHHELD;
      }
    }
    out = out.replace(iban, (m) => replace('account', m));
    out = out.replace(numberRun, (run) => replaceNumbersIn(run, replace));
    return replaceNames ? replaceNames(out, replace) : out;
  };
  const json = (value: unknown): unknown => {
    if (typeof value === 'string') return text(value);
    if (Array.isArray(value)) return value.map(json);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [text(k), json(v)]));
    return value;
  };
  return { text, json: <T>(value: T) => json(value) as T };
}
