/**
 * A read tool: the model looks a ticket up before acting on it. It reads the project's own table
 * through `ctx.db`, which Bosun hands over as the `bosun_tool` role with the run's tenant set, so
 * row-level security (schema.sql) shows it the tenant's tickets and no one else's.
 */
import { defineTool, ToolError, z } from 'bosun/tools';

/** A ticket number as the helpdesk prints it, e.g. `HD-1001`. */
export const ticketId = z.string().regex(/^HD-\d{1,9}$/, 'a ticket number such as "HD-1001"');

export const findTicket = defineTool({
  name: 'find_ticket',
  version: 1,
  description: 'Find a helpdesk ticket by its number: subject, message, status and the customer to answer.',
  kind: 'read',
  args: z.object({ ticket_id: ticketId }).strict(),
  result: z.object({
    ticket_id: z.string(),
    status: z.enum(['open', 'closed']),
    subject: z.string(),
    body: z.string(),
    customer_email: z.string(),
  }),
  scope: ['tenant:helpdesk_tickets'],
  // The model needs the address to answer; the audit log and run events do not keep it.
  redact: { result: { paths: ['customer_email'] } },
  async handler({ ticket_id }, ctx) {
    // No tenant filter needed: row-level security hides every other tenant's tickets.
    const { rows } = await ctx.db.query(
      'SELECT ticket_id, status, subject, body, customer_email FROM helpdesk_tickets WHERE ticket_id = $1',
      [ticket_id],
    );
    // A ToolError goes back to the model as the call's answer; the run goes on, nothing is retried.
    if (!rows[0]) throw new ToolError(`ticket ${ticket_id} not found`);
    return rows[0];
  },
});
