/**
 * The tools of bundles published before tools were pinned, as those builds had them: Bosun then
 * compiled in `lookup_order`, `issue_refund` (both v1, now the example tool pack in
 * examples/support-tools) and `http_fetch` v1 (still built in). A stored bundle without
 * `pinnedTools`, and a run started from one (its workflow input has no `parameters`), are checked
 * against these, so they run and replay exactly as before. Nothing new is pinned from here.
 */
import type { PinnedTool } from './toolSpec';

const orderId = { type: 'string', pattern: '^\\d{1,12}$' };
const draft = 'https://json-schema.org/draft/2020-12/schema';

export const legacyToolPins: Readonly<Record<string, PinnedTool>> = {
  lookup_order: {
    name: 'lookup_order',
    version: 1,
    description: 'Look up an order by its number: item, amount, status and any refund already issued.',
    kind: 'read',
    parameters: { $schema: draft, type: 'object', properties: { order_id: orderId }, required: ['order_id'], additionalProperties: false },
    schemaHash: 'legacy',
    source: { type: 'worker' },
    secrets: [],
    scope: ['tenant:orders', 'tenant:refunds'],
    redact: { result: { paths: ['customer'] } },
    approvalByDefault: false,
    sandbox: 'live',
  },
  issue_refund: {
    name: 'issue_refund',
    version: 1,
    description: 'Refund an order, in full or in part. Needs human approval before it runs.',
    kind: 'write',
    parameters: {
      $schema: draft,
      type: 'object',
      properties: {
        order_id: orderId,
        amount_cents: { type: 'integer', exclusiveMinimum: 0, maximum: 10_000_000 },
        reason: { type: 'string', maxLength: 500 },
      },
      required: ['order_id', 'amount_cents'],
      additionalProperties: false,
    },
    schemaHash: 'legacy',
    source: { type: 'worker' },
    secrets: [],
    scope: ['tenant:orders', 'tenant:refunds'],
    approvalByDefault: true,
    sandbox: 'none',
  },
  http_fetch: {
    name: 'http_fetch',
    version: 1,
    description:
      'Fetch a URL with HTTP GET and return its status and text. Only hosts this agent is allowed to reach answer; ' +
      'responses are cut at 256 KB.',
    kind: 'read',
    parameters: {
      $schema: draft,
      type: 'object',
      properties: {
        // The old zod regex had the /i flag, which JSON Schema cannot say: the case-insensitive prefix spelled out.
        url: { type: 'string', maxLength: 2048, pattern: '^[hH][tT][tT][pP][sS]?:\\/\\/\\S+$' },
        method: { type: 'string', const: 'GET' },
      },
      required: ['url'],
      additionalProperties: false,
    },
    schemaHash: 'legacy',
    source: { type: 'worker' },
    secrets: [],
    scope: ['network:allow-list'],
    redact: { result: { paths: ['body'] } },
    approvalByDefault: false,
    sandbox: 'live',
  },
};
