/**
 * The bare baseline's activities: one OpenAI-compatible chat completion over HTTP, and one order
 * read from PostgreSQL (the demo `orders` table Bosun's `lookup_order` reads).
 */
import type { Db } from '../../src/db/pool';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface BareActivities {
  /** The assistant's message for the conversation so far; throws on a non-2xx answer. */
  callModel(messages: ChatMessage[]): Promise<ChatMessage>;
  /** The order as JSON text; throws when the tenant has no such order. */
  lookupOrder(tenantId: string, orderId: string): Promise<string>;
}

const lookupTool = {
  type: 'function',
  function: {
    name: 'lookup_order',
    description: 'Look up an order by its number.',
    parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  },
};

/** Activities against the model at `modelUrl` (…/v1) and the database `db`. */
export function createBareActivities(db: Db, modelUrl: string): BareActivities {
  return {
    async callModel(messages) {
      const res = await fetch(`${modelUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bench', messages, tools: [lookupTool] }),
      });
      if (!res.ok) throw new Error(`model answered ${res.status}`);
      const body = (await res.json()) as { choices: { message: ChatMessage }[] };
      const message = body.choices[0]?.message;
      if (!message) throw new Error('model answered without a choice');
      return { role: 'assistant', content: message.content ?? null, ...(message.tool_calls && { tool_calls: message.tool_calls }) };
    },
    async lookupOrder(tenantId, orderId) {
      const { rows } = await db.query(
        `SELECT order_id, customer, item, amount_cents, status FROM orders WHERE tenant_id = $1 AND order_id = $2`,
        [tenantId, orderId],
      );
      if (!rows[0]) throw new Error(`order ${orderId} not found`);
      return JSON.stringify(rows[0]);
    },
  };
}
