/**
 * The keys behind the pseudonyms of shadow replays (docs/staging.md): each anonymiser gets a random
 * HMAC-SHA-256 key of its own that is never stored, so its pseudonyms cannot be reversed or linked
 * to another anonymiser's. The tenant's patterns run under a time box per value.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Script, createContext } from 'node:vm';
import { createAnonymiser, type AnonymiseSettings, type Anonymiser, type PatternTimeBox } from '../shared/anonymise';

/** How long the tenant's patterns may take on one value (ms) before the value is withheld whole. */
export const PATTERN_TIME_BOX_MS = 250;

const runApply = new Script('apply()');

/**
 * A time box for the tenant's patterns: `apply` runs inside a vm context with a timeout, which V8
 * interrupts even in the middle of a regular expression's backtracking; throws on timeout.
 */
function vmTimeBox(timeoutMs: number): PatternTimeBox {
  const context = createContext({ apply: () => '' });
  return (apply) => {
    context.apply = apply;
    return runApply.runInContext(context, { timeout: timeoutMs }) as string;
  };
}

/** An anonymiser (src/shared/anonymise.ts) keyed with a fresh random 32-byte HMAC-SHA-256 key. */
export function keyedAnonymiser(settings: AnonymiseSettings): Anonymiser {
  const key = randomBytes(32);
  return createAnonymiser(
    settings,
    (kind, value) => createHmac('sha256', key).update(`${kind}\0${value}`).digest('hex'),
    vmTimeBox(PATTERN_TIME_BOX_MS),
  );
}
