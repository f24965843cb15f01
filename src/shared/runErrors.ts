/**
 * Why a run ended without its answer: the `error.code` of `GET /v1/runs/:runId`. Each code comes
 * from the failure type an activity threw (or the cap the workflow reached), mapped here and only
 * here; docs/provider-errors.md tells what each provider outcome becomes. Pure: the workflow uses it.
 */

/** Failure types activities throw, by the run error code they end a run with. */
const codeByFailureType = {
  // The provider answered 200, but with nothing Bosun can use (asked once more first).
  ModelRefused: 'model_refused',
  ContentFiltered: 'content_filtered',
  EmptyReply: 'empty_reply',
  // The provider refused the request: retrying would change nothing.
  ModelQuotaExceeded: 'quota_exceeded',
  ModelAuthRejected: 'provider_auth_failed',
  ModelNotFound: 'model_not_found',
  ContextLengthExceeded: 'context_length_exceeded',
  ModelRequestRejected: 'model_request_rejected',
  // Bosun's own refusals.
  ModelUnpriced: 'model_unpriced',
  UnknownBundle: 'unknown_bundle',
  // The API started the workflow but never recorded the run (src/activities/runs.ts, unrecordedRun).
  RunNotRecorded: 'run_not_recorded',
  BudgetExceeded: 'budget_exceeded',
  // A tenant that chose to wait for its budget, past the model activity's attempts.
  BudgetWait: 'budget_exceeded',
  // Retried until the model activity's retry policy gave up.
  ModelRateLimited: 'rate_limited',
  ProviderRateLimited: 'rate_limited',
  ModelProviderError: 'provider_unavailable',
  ModelProviderUnreachable: 'provider_unavailable',
  ModelTimeout: 'provider_unavailable',
} as const;

/** The caps of src/shared/caps.ts. */
export const capErrorCodes = ['step_limit', 'tool_call_limit', 'token_limit', 'cost_limit'] as const;

/** A failure nothing above names (a tool activity that kept failing, a bug): see the message. */
export const UNCLASSIFIED = 'unclassified';

export type RunErrorCode =
  | (typeof codeByFailureType)[keyof typeof codeByFailureType]
  | (typeof capErrorCodes)[number]
  | typeof UNCLASSIFIED;

/** `error` of `GET /v1/runs/:runId` and of the `run.finished` event. */
export interface RunError {
  code: RunErrorCode;
  message: string;
}

/** The code a run that failed with `failureType` (an ApplicationFailure's type) ends with. */
export function runErrorCodeOf(failureType: string | undefined): RunErrorCode {
  return (failureType && Object.hasOwn(codeByFailureType, failureType)
    ? codeByFailureType[failureType as keyof typeof codeByFailureType]
    : UNCLASSIFIED);
}
