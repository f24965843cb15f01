import type { ToolImplementations } from './types';
import { createHttpFetch, type HttpFetchOptions } from './httpFetch';
import { issueRefund, lookupOrder } from './orders';

/** Every tool in the shared catalog, implemented; the type makes a missing one a compile error. */
export function createToolImplementations(options: { httpFetch?: HttpFetchOptions } = {}): ToolImplementations {
  return {
    lookup_order: lookupOrder,
    issue_refund: issueRefund,
    http_fetch: createHttpFetch(options.httpFetch),
  };
}

export const toolImplementations: ToolImplementations = createToolImplementations();
