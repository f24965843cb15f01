/**
 * The bench's baseline: the same 3-step support agent as a bare Temporal workflow, no Bosun code in
 * it. The model is asked, each tool call it makes runs as an activity, and the loop ends on a text
 * answer. One workflow per activity kind, so the bench compares regular and local activities.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BareActivities, ChatMessage } from './activities';

const options = { startToCloseTimeout: '30 seconds' } as const;
const regular = proxyActivities<BareActivities>(options);
const local = proxyLocalActivities<BareActivities>(options);

/** At most this many model calls, so a script that never answers cannot loop for ever. */
const MAX_MODEL_CALLS = 10;

async function agentLoop(activities: BareActivities, tenantId: string, input: string): Promise<string> {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are a support agent. Use lookup_order to read an order.' },
    { role: 'user', content: input },
  ];
  for (let call = 0; call < MAX_MODEL_CALLS; call++) {
    const reply = await activities.callModel(messages);
    messages.push(reply);
    if (!reply.tool_calls?.length) return reply.content ?? '';
    for (const toolCall of reply.tool_calls) {
      const { order_id } = JSON.parse(toolCall.function.arguments) as { order_id: string };
      messages.push({ role: 'tool', tool_call_id: toolCall.id, content: await activities.lookupOrder(tenantId, order_id) });
    }
  }
  throw new Error(`no answer after ${MAX_MODEL_CALLS} model calls`);
}

/** The agent with regular activities (each a task on the task queue, recorded in history). */
export async function bareAgentRegular(tenantId: string, input: string): Promise<string> {
  return agentLoop(regular, tenantId, input);
}

/** The agent with local activities (run by the worker that holds the workflow task). */
export async function bareAgentLocal(tenantId: string, input: string): Promise<string> {
  return agentLoop(local, tenantId, input);
}
