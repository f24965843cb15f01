/**
 * The API of issue 12 that `bosun eval` and `bosun golden add` call, as the shared interface in
 * the split states it (eval-evalrt builds the routes): `POST /v1/evals`, `GET /v1/evals`,
 * `GET /v1/runs/:runId/tapes`, and `tapes` on `POST /v1/runs`.
 */
import type { TapeEntry } from '../../shared/evals/goldenCase';

/** One case of a stored eval. */
export interface StoredEvalCase {
  caseId: string;
  runIds: string[];
  passed: boolean;
  metrics: Record<string, number | boolean>;
  failures: string[];
}

/** Body of `POST /v1/evals`. */
export interface StoreEvalRequest {
  agent: string;
  bundleId: string;
  suiteHash: string;
  gate: unknown;
  summary: { metrics: Record<string, number>; passed: boolean; regressions: string[] };
  cases: StoredEvalCase[];
}

/** Answer of `POST /v1/evals` (201). */
export interface StoredEval {
  evalId: string;
  createdAt: string;
}

/** Answer of `GET /v1/evals`: newest first. */
export interface EvalList {
  evals: (StoreEvalRequest & StoredEval)[];
}

/** Answer of `GET /v1/runs/:runId/tapes`: the run's tool calls, results redacted. */
export interface RunTapes {
  tapes: TapeEntry[];
}
