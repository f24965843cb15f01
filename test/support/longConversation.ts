/**
 * A long, deterministic conversation for the context-budget tests and `npm run bench:cost`: the user
 * gives a fact in turn 1 ("my customer code is …") and asks to walk a chain of orders; each order's
 * item names the next one, so the scripted model asks for one lookup per turn, whatever it still
 * sees of the history, and its final answer repeats the fact only if it still sees it (in the
 * history, or in a summary that carried it).
 */
import type { Db } from '../../src/db/pool';
import type { ScriptRule } from '../../src/dev/scriptedModel';

export const CUSTOMER_CODE = 'ZEBRA-4711';

/** The user's input of a chain starting at order `first`. */
export const chainInput = (first: number) => `Hello! My customer code is ${CUSTOMER_CODE}. Please walk the order chain starting at order ${first}.`;

/**
 * Orders `first` … `first + length - 1`; each item points to the next, the last one ends the chain.
 * `padChars` of notes make each lookup result long (tool results past maxToolResultChars get cut;
 * the pointer comes first, so it survives the cut).
 */
export async function seedOrderChain(db: Db, tenantId: string, first: number, length: number, padChars: number): Promise<void> {
  for (let i = 0; i < length; i++) {
    const id = first + i;
    const pointer = i === length - 1 ? 'end of chain' : `see order ${id + 1}`;
    const notes = `warehouse notes for order ${id}: `.padEnd(padChars, 'lorem ipsum dolor sit amet ');
    await db.query(
      `INSERT INTO orders (tenant_id, order_id, customer, item, amount_cents, status) VALUES ($1, $2, $3, $4, $5, 'delivered')
       ON CONFLICT DO NOTHING`,
      [tenantId, String(id), 'Chain Customer', `${pointer}; ${notes}`, 1000 + i],
    );
  }
}

/**
 * The scripted model's side: summaries carry the customer code when the text they summarise holds
 * it; the final answer repeats it only when the model still sees it. The summary rule comes first:
 * the summary request is a user message too.
 */
export const chainRules: ScriptRule[] = [
  {
    when: { role: 'user', matches: '^Summarise the conversation.*customer code\\D*?([A-Z]+-\\d+)' },
    reply: { content: 'The user (customer code $1) asked me to walk a chain of orders, one lookup_order call per order; every lookup so far succeeded.' },
  },
  {
    when: { role: 'user', matches: '^Summarise the conversation' },
    reply: { content: 'I have been looking up a chain of orders.' },
  },
  {
    when: { role: 'user', matches: 'order chain starting at order (\\d+)' },
    reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] },
  },
  {
    when: { role: 'tool', tool: 'lookup_order', matches: '"item":"see order (\\d+)' },
    reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] },
  },
  {
    when: { role: 'tool', tool: 'lookup_order', matches: '"item":"end of chain', seen: 'customer code\\D*?([A-Z]+-\\d+)' },
    reply: { content: 'I walked the whole order chain for customer $S1: every order is delivered.' },
  },
  {
    when: { role: 'tool', tool: 'lookup_order', matches: '"item":"end of chain' },
    reply: { content: 'I walked the whole order chain, but I no longer know your customer code.' },
  },
];
