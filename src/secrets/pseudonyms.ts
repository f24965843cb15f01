/**
 * The keys behind the pseudonyms of shadow replays (docs/staging.md): each anonymiser gets a random
 * HMAC-SHA-256 key of its own that is never stored, so its pseudonyms cannot be reversed or linked
 * to another anonymiser's.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createAnonymiser, type AnonymiseSettings, type Anonymiser } from '../shared/anonymise';

/** An anonymiser (src/shared/anonymise.ts) keyed with a fresh random 32-byte HMAC-SHA-256 key. */
export function keyedAnonymiser(settings: AnonymiseSettings): Anonymiser {
  const key = randomBytes(32);
  return createAnonymiser(settings, (kind, value) => createHmac('sha256', key).update(`${kind}\0${value}`).digest('hex'));
}
