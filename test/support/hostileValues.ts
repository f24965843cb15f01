/**
 * Seeded generators of hostile request values for the API's property test. fast-check is not a
 * dependency of the project, so this is a small stand-in: a seeded PRNG and hand-picked shapes
 * (Unicode with U+0000 and lone surrogates, very long strings, numbers past a double's range, deep
 * nesting, wrong types). The same seed always gives the same values.
 */

/** A number in [0, 1). */
export type Rng = () => number;

/** mulberry32: small, fast and good enough to pick test values. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const between = (rng: Rng, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));

/** JSON text written as is: what JSON.stringify cannot produce (1e400, nesting deeper than its stack). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify, with RawJson written verbatim. */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const fixedStrings = [
  '', ' ', 'a', 'support', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\udc00y', 'half \ud83d emoji', '🚀', '\u{10FFFF}', '\uFFFE',
  '\u202Eevil', 'e\u0301', "'; DROP TABLE runs; --", '%00', '\\u0000', '{"a":1}', '__proto__', 'constructor', 'null', 'NaN',
  '1e999', '-1', '2026-01-01T00:00:00Z', '00000000-0000-0000-0000-000000000000', 'support@000000000000', '../../etc/passwd',
  '<script>alert(1)</script>', '\r\n', '\t', 'approve', 'canary', 'immediate', 'runner',
];

/** Code units a random string is made of: ASCII, other planes, NUL and halves of surrogate pairs. */
const unitRanges: [number, number][] = [[0x20, 0x7e], [0x00, 0x1f], [0xa0, 0x2fff], [0x4e00, 0x9fff], [0xd800, 0xdfff], [0xe000, 0xfffd]];

function randomText(rng: Rng, length: number): string {
  const units: number[] = [];
  for (let i = 0; i < length; i += 1) {
    const [lo, hi] = pick(rng, unitRanges);
    units.push(between(rng, lo, hi));
  }
  return String.fromCharCode(...units);
}

export function hostileString(rng: Rng): string {
  const roll = rng();
  if (roll < 0.45) return pick(rng, fixedStrings);
  if (roll < 0.85) return randomText(rng, between(rng, 1, 40));
  if (roll < 0.97) return randomText(rng, 1_000) + 'x'.repeat(pick(rng, [10_000, 100_000]));
  // Past the default request limit (2 MiB) once escaped: a 413, never a 5xx.
  return 'y'.repeat(2_500_000);
}

const fixedNumbers = [
  0, -0, 1, -1, 0.5, -0.5, 7, 100, 1e308, -1e308, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER,
  2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 64, 5e-324, 1e21, 0.1 + 0.2,
];
const rawNumbers = ['1e400', '-1e400', '123456789012345678901234567890', '1.00000000000000000000001', '-0.0', '1E-400'];

export function hostileNumber(rng: Rng): number | RawJson {
  return rng() < 0.75 ? pick(rng, fixedNumbers) : new RawJson(pick(rng, rawNumbers));
}

/** Nesting 33 levels deep (just past the API's limit) up to 100 000 (past any recursive code's stack). */
function deepNesting(rng: Rng): RawJson {
  const depth = pick(rng, [33, 1_000, 100_000]);
  return rng() < 0.5
    ? new RawJson(`${'['.repeat(depth)}${']'.repeat(depth)}`)
    : new RawJson(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
}

/** Any JSON value, hostile: the shapes above, arrays, objects with hostile keys, deep nesting. */
export function hostileValue(rng: Rng, depth = 0): unknown {
  const roll = rng();
  if (roll < 0.35) return hostileString(rng);
  if (roll < 0.55) return hostileNumber(rng);
  if (roll < 0.6) return rng() < 0.5;
  if (roll < 0.65) return null;
  if (roll < 0.7) return deepNesting(rng);
  if (roll < 0.75) return Array.from({ length: 10_000 }, (_, i) => i);
  if (depth >= 3 || roll < 0.87) return Array.from({ length: between(rng, 0, 4) }, () => hostileValue(rng, depth + 1));
  return Object.fromEntries(Array.from({ length: between(rng, 0, 4) }, () => [hostileString(rng).slice(0, 200), hostileValue(rng, depth + 1)]));
}

/**
 * A path's value percent-encoded for a URL. A lone surrogate cannot be UTF-8, so it is sent as the
 * three bytes an encoder that ignores that would write (e.g. %ED%A0%80): invalid UTF-8 on the wire.
 */
export function encodeUrlText(text: string): string {
  let out = '';
  for (const char of text) {
    const unit = char.charCodeAt(0);
    if (char.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(char);
    }
  }
  return out;
}
