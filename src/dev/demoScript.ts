import type { ModelScript } from './scriptedModel';

/**
 * The support agent's scripted model: "Refund order 1001" → lookup_order → issue_refund → answer,
 * and a polite answer when the refund is rejected or the order is unknown.
 */
export const supportDemoScript: ModelScript = {
  rules: [
    {
      when: { role: 'user', matches: 'order\\s*#?(\\d+)' },
      reply: { toolCalls: [{ name: 'lookup_order', arguments: '{"order_id":"$1"}' }] },
    },
    {
      when: { role: 'tool', tool: 'lookup_order', matches: '"error":"([^"]*)"' },
      reply: { content: 'Sorry, I could not do that: $1.' },
    },
    {
      when: { role: 'tool', tool: 'lookup_order', matches: '"order_id":"(\\d+)".*"amount_cents":(\\d+)' },
      reply: {
        toolCalls: [
          { name: 'issue_refund', arguments: '{"order_id":"$1","amount_cents":$2,"reason":"customer requested a refund"}' },
        ],
      },
    },
    {
      when: { role: 'tool', tool: 'issue_refund', matches: 'rejected' },
      reply: { content: 'Your refund request was reviewed and not approved, so no money was moved.' },
    },
    {
      when: { role: 'tool', tool: 'issue_refund', matches: '"order_id":"(\\d+)","amount_cents":(\\d+)' },
      reply: { content: 'Done: I refunded $2 cents for order $1.' },
    },
    {
      when: { role: 'tool', tool: 'issue_refund', matches: '"error":"([^"]*)"' },
      reply: { content: 'Sorry, the refund failed: $1.' },
    },
  ],
};
