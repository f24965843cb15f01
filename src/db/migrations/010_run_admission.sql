-- Concurrency and fairness. A run holds one of its tenant's run slots, and one of the system's,
-- exactly while its status is 'running'; admitRun moves queued runs to 'running' under an advisory
-- lock (src/activities/admission.ts). A run parked on an approval holds no slot.
-- started_at: the first admission; admitted_at: the latest (a run takes a slot again after an approval).
ALTER TABLE runs ADD COLUMN started_at timestamptz;
ALTER TABLE runs ADD COLUMN admitted_at timestamptz;
-- The run's latest admission attempt: a queued run that polled lately has a live workflow behind it.
ALTER TABLE runs ADD COLUMN admission_polled_at timestamptz;
CREATE INDEX runs_running_by_tenant ON runs (tenant_id) WHERE status = 'running';
CREATE INDEX runs_queued_fifo ON runs (tenant_id, created_at, run_id) WHERE status = 'queued';

-- Per-tenant overrides of BOSUN_MAX_RUNNING_PER_TENANT.
CREATE TABLE tenant_limits (
  tenant_id    text PRIMARY KEY,
  max_running  integer NOT NULL CHECK (max_running > 0),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
