import type { ModelScript, ScriptRule } from './scriptedModel';

/** The support agent's answer once a refund went through (tests slow it down to stop a worker mid-answer). */
export const refundedAnswer: ScriptRule = {
  // Keys in any order: a tool tape's result keeps the order it was recorded in, which may not be the tool's.
  when: { role: 'tool', tool: 'issue_refund', matches: '"order_id":"(\\d+)".*"amount_cents":(\\d+)' },
  reply: { content: 'Done: I refunded $2 cents for order $1.' },
};

/**
 * The example user project's agent (examples/helpdesk): "close ticket HD-1001" → find_ticket →
 * close_ticket (once approved) → answer. Part of the demo script, so `npm start` runs it offline too.
 */
export const helpdeskDemoRules: ScriptRule[] = [
  { when: { role: 'user', matches: 'ticket (HD-\\d+)' }, reply: { toolCalls: [{ name: 'find_ticket', arguments: '{"ticket_id":"$1"}' }] } },
  { when: { role: 'tool', tool: 'find_ticket', matches: '"error":"([^"]*)"' }, reply: { content: 'Sorry: $1.' } },
  {
    when: { role: 'tool', tool: 'find_ticket', matches: '"ticket_id":"(HD-\\d+)","status":"open"' },
    reply: { toolCalls: [{ name: 'close_ticket', arguments: '{"ticket_id":"$1","resolution":"Your password was reset."}' }] },
  },
  { when: { role: 'tool', tool: 'close_ticket', matches: 'rejected' }, reply: { content: 'Closing the ticket was not approved.' } },
  { when: { role: 'tool', tool: 'close_ticket', matches: '"closed":true,"ticket_id":"(HD-\\d+)"' }, reply: { content: 'Closed ticket $1.' } },
  { when: { role: 'tool', tool: 'close_ticket', matches: '"error":"([^"]*)"' }, reply: { content: 'Could not close it: $1.' } },
];

/**
 * The support agent's scripted model: "Refund order 1001" → lookup_order → issue_refund → answer,
 * and a polite answer when the refund is rejected or the order is unknown. It also plays two parts
 * for `bosun eval` offline: a judge (requests marked `[bosun judge]`), and a worse agent when the
 * bundle's prompt tells it to skip the lookup (evals/support/skips-lookup: the gate must fail it).
 */
export const supportDemoScript: ModelScript = {
  rules: [
    {
      when: { role: 'user', matches: '^\\[bosun judge\\].*<answer>[^<]*(no tape covers|the refund failed)[^<]*</answer>' },
      reply: { content: '{"pass":false,"score":0,"reason":"the answer does not do what was asked"}' },
    },
    {
      when: { role: 'user', matches: '^\\[bosun judge\\]' },
      reply: { content: '{"pass":true,"score":1,"reason":"the answer states what was done, from the tool results"}' },
    },
    {
      when: { role: 'user', matches: 'order\\s*#?(\\d+)', seen: 'refund without looking the order up' },
      reply: { toolCalls: [{ name: 'issue_refund', arguments: '{"order_id":"$1","amount_cents":1000,"reason":"customer requested a refund"}' }] },
    },
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
    refundedAnswer,
    {
      when: { role: 'tool', tool: 'issue_refund', matches: '"error":"([^"]*)"' },
      reply: { content: 'Sorry, the refund failed: $1.' },
    },
    ...helpdeskDemoRules,
  ],
};
