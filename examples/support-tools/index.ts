/** The demo support agent's tool pack: name this module in BOSUN_TOOL_MODULES and a worker has its tools. */
import { issueRefund, lookupOrder } from './orders';

export const tools = [lookupOrder, issueRefund];
export default tools;
