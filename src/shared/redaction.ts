/**
 * Redaction of tool arguments and results before they are written where people read them (the
 * audit log, step rows, run events). Pure: no I/O, safe to import anywhere.
 */

export interface RedactionRules {
  /**
   * Field paths to mask: keys separated by dots, `*` for any one key or array index, e.g.
   * `customer`, `card.number`, `items.*.email`. A masked field keeps its key; its value becomes `[redacted]`.
   */
  paths?: readonly string[];
  /** Keys masked at any depth, compared case-insensitively (headers, credentials). */
  keys?: readonly string[];
}

export const REDACTED = '[redacted]';

/** Keys that never reach an audit or step row, whatever a tool's own rules say. */
export const alwaysRedactedKeys: readonly string[] = [
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'password', 'passwd', 'secret', 'client_secret',
  'token', 'access_token', 'refresh_token', 'id_token', 'api_key', 'apikey', 'x-api-key', 'private_key',
];

/** A copy of `value` with every field the rules name replaced by `[redacted]`; `value` is not changed. */
export function redact(value: unknown, rules: RedactionRules = {}): unknown {
  const paths = (rules.paths ?? []).map((p) => p.split('.'));
  const keys = new Set([...alwaysRedactedKeys, ...(rules.keys ?? [])].map((k) => k.toLowerCase()));

  const walk = (node: unknown, live: string[][]): unknown => {
    if (Array.isArray(node)) return node.map((child, i) => visit(String(i), child, live));
    if (isPlainObject(node)) {
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, visit(key, child, live)]));
    }
    return node;
  };
  // `live` are the path suffixes still to match below the current node.
  const visit = (key: string, child: unknown, live: string[][]): unknown => {
    const below = live.filter((p) => p[0] === '*' || p[0] === key).map((p) => p.slice(1));
    if (keys.has(key.toLowerCase()) || below.some((p) => p.length === 0)) return child === undefined ? child : REDACTED;
    return walk(child, below);
  };
  return walk(value, paths);
}

/**
 * Replaces every occurrence of the given values (secrets) in the strings and keys of `value` with
 * `[secret:<name>]`: defence in depth against a server that echoes a credential back.
 */
export function maskValues(value: unknown, secrets: Readonly<Record<string, string>>): unknown {
  const entries = Object.entries(secrets)
    .filter(([, secret]) => secret.length > 0)
    // Longest first, so a secret that contains another is masked whole.
    .sort(([, a], [, b]) => b.length - a.length);
  if (entries.length === 0) return value;
  const maskText = (text: string) =>
    entries.reduce((out, [name, secret]) => (out.includes(secret) ? out.split(secret).join(`[secret:${name}]`) : out), text);
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return maskText(node);
    if (Array.isArray(node)) return node.map(walk);
    if (isPlainObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [maskText(k), walk(v)]));
    return node;
  };
  return walk(value);
}

/** True when some secret occurs anywhere in `text`. */
export function containsAny(text: string, secrets: Readonly<Record<string, string>>): boolean {
  return Object.values(secrets).some((secret) => secret.length > 0 && text.includes(secret));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const redactedKeyPattern = alwaysRedactedKeys.map((k) => k.replace(/[-_]/g, '[-_ ]?')).join('|');
/** Free-text shapes masked by redactText: `password: x`, `Bearer x`, e-mail addresses, card-like numbers. */
const textPatterns: readonly [RegExp, string][] = [
  [new RegExp(`\\b(${redactedKeyPattern})(\\s*[:=]\\s*)((?:bearer|basic)\\s+\\S+|"[^"]*"|'[^']*'|\\S+)`, 'gi'), `$1$2${REDACTED}`],
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, REDACTED],
  [/\b\d(?:[ -]?\d){12,18}\b/g, REDACTED],
];

/**
 * A copy of free text (a run's input, shown in the Temporal UI) with credentials after an
 * always-redacted key (`password: hunter2` → `password: [redacted]`), bearer tokens, e-mail
 * addresses and card-like numbers (13–19 digits) replaced by `[redacted]`. JSON text is redacted as
 * its value (redact) and written back compactly.
 */
export function redactText(text: string): string {
  const json = parsedObject(text);
  const plain = json === undefined ? text : JSON.stringify(redact(json));
  return textPatterns.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), plain);
}

function parsedObject(text: string): object | undefined {
  if (!/^\s*[[{]/.test(text)) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}
