/**
 * Why a run ended without its answer: the `error.code` of `GET /v1/runs/:runId`. Each code comes
 * from the failure type an activity threw (its entry in src/shared/failures.ts) or the cap the
 * workflow reached; docs/provider-errors.md tells what each provider outcome becomes. Pure: the
 * workflow uses it.
 */
import { failureSpec, type FailureRunErrorCode } from './failures';

/** The caps of src/shared/caps.ts. */
export const capErrorCodes = ['step_limit', 'tool_call_limit', 'token_limit', 'cost_limit'] as const;

/** A failure nothing above names (a tool activity that kept failing, a bug): see the message. */
export const UNCLASSIFIED = 'unclassified';

/** A run on a thread stopped at a safe point by a newer message under the `interrupt` strategy (src/shared/threads.ts). */
export const INTERRUPTED = 'interrupted';

export type RunErrorCode = FailureRunErrorCode | (typeof capErrorCodes)[number] | typeof UNCLASSIFIED | typeof INTERRUPTED;

/** `error` of `GET /v1/runs/:runId` and of the `run.finished` event. */
export interface RunError {
  code: RunErrorCode;
  message: string;
}

/** The code a run that failed with `failureType` (an ApplicationFailure's type) ends with. */
export function runErrorCodeOf(failureType: string | undefined): RunErrorCode {
  return failureSpec(failureType)?.runErrorCode ?? UNCLASSIFIED;
}
