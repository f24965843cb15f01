/**
 * Every failure Bosun's activities and workflows throw, in one catalogue: its type (the
 * ApplicationFailure's `type`), whether Temporal retries it, and the run error code
 * (src/shared/runErrors.ts) a run that ends with it gets; then the run's activity retry policies,
 * built from it. docs/provider-errors.md tells what each provider outcome becomes.
 * Pure: the workflow uses it (@temporalio/common's ApplicationFailure is the class the activity
 * and workflow packages re-export).
 */
import { ApplicationFailure, type RetryPolicy } from '@temporalio/common';

/**
 * How Temporal treats a failure of the type:
 * - `terminal`: thrown non-retryable, since retrying cannot change the answer;
 * - `retried`: thrown retryable, mostly with the delay to wait; it ends a run only once the
 *   activity's retry policy gives up;
 * - `once`: retryable the first time in a step (the model is asked once more), terminal the second.
 */
export type Retry = 'terminal' | 'retried' | 'once';

interface FailureSpec {
  retry: Retry;
  /** The run's `error.code` when the run ends with this failure; absent: it never ends a run by itself (unclassified if it does). */
  runErrorCode?: string;
}

const catalogue = {
  // The provider answered 200, but with nothing Bosun can use (src/activities/model/replies.ts).
  ModelRefused: { retry: 'once', runErrorCode: 'model_refused' },
  ContentFiltered: { retry: 'once', runErrorCode: 'content_filtered' },
  EmptyReply: { retry: 'once', runErrorCode: 'empty_reply' },
  // The provider refused the request (src/activities/model/errors.ts): retrying would change nothing.
  ModelQuotaExceeded: { retry: 'terminal', runErrorCode: 'quota_exceeded' },
  ModelAuthRejected: { retry: 'terminal', runErrorCode: 'provider_auth_failed' },
  ModelNotFound: { retry: 'terminal', runErrorCode: 'model_not_found' },
  // Asked once more with older turns summarised when the bundle has a context budget.
  ContextLengthExceeded: { retry: 'once', runErrorCode: 'context_length_exceeded' },
  ModelRequestRejected: { retry: 'terminal', runErrorCode: 'model_request_rejected' },
  // Retried (after Retry-After or a jittered backoff) until the model activity's retry policy gives up.
  ModelRateLimited: { retry: 'retried', runErrorCode: 'rate_limited' },
  ProviderRateLimited: { retry: 'retried', runErrorCode: 'rate_limited' },
  ModelProviderError: { retry: 'retried', runErrorCode: 'provider_unavailable' },
  ModelProviderUnreachable: { retry: 'retried', runErrorCode: 'provider_unavailable' },
  ModelTimeout: { retry: 'retried', runErrorCode: 'provider_unavailable' },
  // Bosun's own refusals.
  ModelUnpriced: { retry: 'terminal', runErrorCode: 'model_unpriced' },
  UnknownBundle: { retry: 'terminal', runErrorCode: 'unknown_bundle' },
  BudgetExceeded: { retry: 'terminal', runErrorCode: 'budget_exceeded' },
  // A tenant that chose to wait for its budget: retried when its window turns over.
  BudgetWait: { retry: 'retried', runErrorCode: 'budget_exceeded' },
  // Tools (src/activities/toolCalls.ts).
  /** This worker lacks the called tool (or that version or schema of it); a worker that has it takes the retry. */
  ToolUnavailable: { retry: 'retried', runErrorCode: 'tool_unavailable' },
  /**
   * Asked to run a read call as a local activity, the workflow's own worker does not host the
   * pinned tool (that version and schema): the workflow calls it on the tool's own queue instead.
   */
  ToolNotHosted: { retry: 'terminal' },
  // The run's own life (src/activities/runs.ts, admission.ts, runEnded.ts; the workflow).
  /** A queued run's poll for a run slot, retried until it is admitted. */
  RunQueued: { retry: 'retried' },
  /** The API has not committed the run's row yet. */
  RunRecordMissing: { retry: 'retried' },
  /** The API started the workflow but never recorded the run. */
  RunNotRecorded: { retry: 'terminal', runErrorCode: 'run_not_recorded' },
  /** An activity found its run already ended: nothing is left to do. */
  RunEnded: { retry: 'terminal' },
  /** What a failed run's workflow ends with, after it recorded the failure. */
  RunFailed: { retry: 'terminal' },
  // Alert webhooks (src/activities/alerts.ts).
  /** The egress guard refused the webhook's URL, or the receiver refused the request (a 4xx other than 408/429). */
  AlertWebhookRefused: { retry: 'terminal' },
  /** The receiver was unreachable, timed out or answered 408, 429 or 5xx. */
  AlertWebhookFailed: { retry: 'retried' },
} as const satisfies Record<string, FailureSpec>;

export type FailureType = keyof typeof catalogue;

/** Each failure type by name, for `ApplicationFailure.type` and comparisons: `FailureType.BudgetExceeded`. */
export const FailureType = Object.fromEntries(Object.keys(catalogue).map((type) => [type, type])) as { readonly [T in FailureType]: T };

type TypesWhere<R extends Retry> = { [T in FailureType]: (typeof catalogue)[T]['retry'] extends R ? T : never }[FailureType];
/** Types that may be thrown non-retryable. */
export type TerminalFailureType = TypesWhere<'terminal' | 'once'>;
/** Types that may be thrown retryable. */
export type RetryableFailureType = TypesWhere<'retried' | 'once'>;

/** Run error codes the catalogue gives, by failure type (src/shared/runErrors.ts adds the caps' and `unclassified`). */
export type FailureRunErrorCode = { [T in FailureType]: (typeof catalogue)[T] extends { runErrorCode: infer C } ? C : never }[FailureType];

/** The catalogue's entry for an ApplicationFailure's type, or undefined for a type it does not know. */
export function failureSpec(type: string | undefined): { retry: Retry; runErrorCode?: FailureRunErrorCode } | undefined {
  return type !== undefined && Object.hasOwn(catalogue, type) ? catalogue[type as FailureType] : undefined;
}

/** A failure retrying cannot change: Temporal does not retry it. */
export function terminalFailure(type: TerminalFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** A failure Temporal retries: after `nextRetryDelay` ms when given, else on the activity's backoff. */
export function retryableFailure(type: RetryableFailureType, message: string, { nextRetryDelay }: { nextRetryDelay?: number } = {}): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nextRetryDelay });
}

/** The failure of an activity that needs a bundle this worker does not have. */
export function unknownBundle(bundleId: string): ApplicationFailure {
  return terminalFailure(FailureType.UnknownBundle, `this worker does not have bundle ${bundleId}`);
}

/**
 * What an activity failed with, as the workflow sees it: a regular activity's failure is the cause
 * of an ActivityFailure; a local activity's reaches the workflow as it was thrown, unwrapped.
 */
export function activityFailureOf(err: unknown): unknown {
  return err instanceof ApplicationFailure ? err : (err as { cause?: unknown } | null)?.cause;
}

/** The ApplicationFailure type an activity (regular or local) failed with, if any. */
export function failureTypeOf(err: unknown): string | undefined {
  const failure = activityFailureOf(err);
  return failure instanceof ApplicationFailure ? failure.type ?? undefined : undefined;
}

/** Never retried, whatever activity throws them. */
const terminalFailureTypes = (Object.keys(catalogue) as FailureType[]).filter((type) => catalogue[type].retry === 'terminal');

/**
 * The model activity's backoff (ms). Its retries follow it, and src/activities/model/callGuard.ts
 * spreads its own jittered delays along the same curve.
 */
export const modelBackoff = { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 60_000 } as const;

function retryPolicy(backoff: { initialIntervalMs: number; backoffCoefficient: number; maximumIntervalMs: number }, maximumAttempts?: number): RetryPolicy {
  return {
    initialInterval: backoff.initialIntervalMs,
    backoffCoefficient: backoff.backoffCoefficient,
    maximumInterval: backoff.maximumIntervalMs,
    ...(maximumAttempts !== undefined && { maximumAttempts }),
    nonRetryableErrorTypes: terminalFailureTypes,
  };
}

/** The retry policies of src/workflows/agentRun's activities. */
export const runRetryPolicies = {
  // PostgreSQL being away for a while must delay the run, never fail it: no attempt limit.
  bookkeeping: retryPolicy({ initialIntervalMs: 200, backoffCoefficient: 2, maximumIntervalMs: 30_000 }),
  model: retryPolicy(modelBackoff, 20),
  tools: retryPolicy({ initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 30_000 }, 10),
};

/** The retry policies of src/workflows/alertEvaluation.ts's activities. */
export const alertRetryPolicies = {
  evaluation: retryPolicy({ initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 10_000 }, 3),
  // About two minutes of attempts; a transition still undelivered then is recorded as failed.
  delivery: retryPolicy({ initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 30_000 }, 6),
};
