-- Which production runs are real production traffic (issue 15, docs/staging.md): a sandbox run
-- (`sandbox: true`, tapes, every eval case, every staging run) and a run pinned to a bundle by its
-- request (`bundleId`) are not, so shadow replay never selects them and continuous shadowing never
-- mirrors them. Runs recorded earlier: those with tapes or an eval case were sandbox runs.
ALTER TABLE runs ADD COLUMN sandbox boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN pinned boolean NOT NULL DEFAULT false;
UPDATE runs SET sandbox = true
  WHERE environment = 'staging' OR metadata ? 'eval_case' OR run_id IN (SELECT run_id FROM run_tapes);
