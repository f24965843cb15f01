/**
 * A write tool: closes a ticket with a resolution note. Its kind is `write`, so every call waits
 * for a human's approval unless the bundle says otherwise; it runs at most once per call thanks to
 * `ctx.idempotencyKey` (the same on every retry of the call) and the note table's unique key.
 */
import { defineTool, ToolError, z } from 'bosun/tools';
import { ticketId } from './findTicket';

export const closeTicket = defineTool({
  name: 'close_ticket',
  version: 1,
  description: 'Close a helpdesk ticket with a short resolution note for the customer. Needs human approval before it runs.',
  kind: 'write',
  args: z.object({ ticket_id: ticketId, resolution: z.string().min(1).max(2000) }).strict(),
  scope: ['tenant:helpdesk_tickets', 'tenant:helpdesk_ticket_notes'],
  timeout: '10s',
  async handler({ ticket_id, resolution }, ctx) {
    // Locks the ticket: a racing attempt of this same call waits here until the first one commits...
    const ticket = await ctx.db.query('SELECT status FROM helpdesk_tickets WHERE ticket_id = $1 FOR UPDATE', [ticket_id]);
    if (!ticket.rows[0]) throw new ToolError(`ticket ${ticket_id} not found`);
    // ...and then finds the note the first one wrote, and answers as it did.
    const done = await ctx.db.query('SELECT note_id FROM helpdesk_ticket_notes WHERE idempotency_key = $1', [ctx.idempotencyKey]);
    if (done.rows[0]) return closed(ticket_id, done.rows[0].note_id);
    if (ticket.rows[0].status !== 'open') throw new ToolError(`ticket ${ticket_id} is already closed`);
    // Nothing written for a run being cancelled.
    ctx.signal.throwIfAborted();
    const note = await ctx.db.query(
      `INSERT INTO helpdesk_ticket_notes (tenant_id, ticket_id, body, run_id, idempotency_key)
       VALUES ($1, $2, $3, $4, $5) RETURNING note_id`,
      [ctx.tenantId, ticket_id, resolution, ctx.runId, ctx.idempotencyKey],
    );
    await ctx.db.query("UPDATE helpdesk_tickets SET status = 'closed', closed_at = now() WHERE ticket_id = $1", [ticket_id]);
    ctx.log.info('ticket closed', { ticket_id });
    return closed(ticket_id, note.rows[0].note_id);
  },
});

const closed = (ticket_id: string, note_id: string) => ({ closed: true, ticket_id, note_id: Number(note_id) });
