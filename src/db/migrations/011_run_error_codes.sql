-- What kind of failure ended a run, beside its message: `error.code` in GET /v1/runs/:runId
-- (src/shared/runErrors.ts). Runs that ended before codes existed get what their status tells.
ALTER TABLE runs ADD COLUMN error_code text;
UPDATE runs SET error_code = CASE status WHEN 'step_limit' THEN 'step_limit' WHEN 'budget_exceeded' THEN 'budget_exceeded' ELSE 'unclassified' END
WHERE error IS NOT NULL;
