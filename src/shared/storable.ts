/**
 * Text PostgreSQL can store. It refuses U+0000 in `text` and in `jsonb` strings (`\u0000`), and a
 * lone UTF-16 surrogate has no UTF-8 form at all (`jsonb` refuses its `\uD800` escape; node-postgres
 * would quietly turn it into U+FFFD in `text`). What a model or a tool hands Bosun may hold either,
 * so every writer of such text passes it through here first: each offending code unit becomes
 * U+FFFD, the character Unicode reserves for exactly this, and the count lets the record say so.
 *
 * Replacing (rather than escaping) keeps every reader simple and every later model request valid:
 * the transcript is sent back to the provider as it is stored, and neither character means anything
 * in the text of a conversation. Pure: the workflow may import it.
 */

/** U+FFFD REPLACEMENT CHARACTER. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

/** U+0000, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const unstorable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** A cheap first look: text without any of these characters needs no replacing. */
const suspect = /[\u0000\uD800-\uDFFF]/;

export interface Storable<T> {
  /** The storable copy (the input itself when nothing had to change). */
  value: T;
  /** How many UTF-16 code units were replaced by U+FFFD. */
  replaced: number;
}

/** `text` with U+0000 and lone surrogates replaced by U+FFFD; a surrogate pair (an emoji) stays. */
export function storableText(text: string): Storable<string> {
  if (!suspect.test(text)) return { value: text, replaced: 0 };
  let replaced = 0;
  const value = text.replace(unstorable, () => {
    replaced += 1;
    return REPLACEMENT_CHARACTER;
  });
  return { value, replaced };
}

/** `storableText` for a value that may be absent. */
export function storableOptionalText<T extends string | null | undefined>(text: T): Storable<T> {
  return typeof text === 'string' ? (storableText(text) as Storable<T>) : { value: text, replaced: 0 };
}

/**
 * A copy of a JSON-like value (plain objects, arrays, strings, numbers, booleans, null) with every
 * string and every object key made storable. Other objects (a Date) are kept as they are.
 */
export function storableJson<T>(value: T): Storable<T> {
  let replaced = 0;
  const text = (s: string) => {
    const clean = storableText(s);
    replaced += clean.replaced;
    return clean.value;
  };
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return text(node);
    if (Array.isArray(node)) return node.map(walk);
    if (isPlainObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [text(k), walk(v)]));
    return node;
  };
  const copy = walk(value) as T;
  return replaced ? { value: copy, replaced } : { value, replaced: 0 };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A record for a `jsonb` column, made storable, that says what was lost: `replacedCharacters`
 * counts its own replacements plus `alsoReplaced` (what the caller replaced in text stored beside
 * it); absent when nothing was replaced.
 */
export function storableRecord(record: Record<string, unknown>, alsoReplaced = 0): Record<string, unknown> {
  const { value, replaced } = storableJson(record);
  const total = replaced + alsoReplaced;
  return total ? { ...value, replacedCharacters: total } : value;
}
