/**
 * Bosun's worker library (`bosun/worker`): a user's worker is
 *
 *     import { runWorker } from 'bosun/worker';
 *     import { findTicket, closeTicket } from './tools/tickets';
 *     runWorker({ tools: [findTicket, closeTicket] });
 *
 * configured from the environment as Bosun's own worker is (DATABASE_URL, TEMPORAL_ADDRESS, ...).
 */
export { createWorker, runWorker, type BosunWorker, type CreateWorkerOptions } from './createWorker';
export { defineTool, ToolError, z, type BosunTool, type ToolContext } from '../sdk/tools';
