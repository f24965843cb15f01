import type { ToolImplementations } from './types';
import { issueRefund, lookupOrder } from './orders';

/** Every tool in the shared catalog, implemented; the type makes a missing one a compile error. */
export const toolImplementations: ToolImplementations = {
  lookup_order: lookupOrder,
  issue_refund: issueRefund,
};
