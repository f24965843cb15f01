-- What an approver is shown and what they decided: the model's stated reason, the risk (the tool's
-- kind and the policy rule that fired), and the arguments the approver substituted, if any
-- (`arguments` keeps the model's original).
ALTER TABLE approvals ADD COLUMN reason text;
ALTER TABLE approvals ADD COLUMN risk jsonb;
ALTER TABLE approvals ADD COLUMN edited_arguments jsonb;

-- The approvals inbox: a tenant's approvals, newest first, optionally by status.
CREATE INDEX approvals_inbox ON approvals (tenant_id, requested_at DESC, approval_id DESC);
CREATE INDEX approvals_inbox_by_status ON approvals (tenant_id, status, requested_at DESC, approval_id DESC);
