/**
 * The alert-evaluation workflow's I/O: judging a sample of finished runs for grounding, evaluating
 * every rule from PostgreSQL (each alert's state changes and its transition is appended in one
 * transaction), and delivering a transition's webhook through Bosun's egress guard.
 */
import { randomUUID } from 'node:crypto';
import type { AlertWebhookSettings } from '../config';
import {
  firingScopes, findAlertEvent, insertAlertEvent, insertGroundingSample, listAlertRules, lockAlert, pendingAlertEvents, runsToJudge,
  saveAlert, settleAlertEvent, signalFigures, type AlertEventRow, type RunToJudge,
} from '../db/alerts';
import { inTransaction, type Db } from '../db/pool';
import { evaluateRule, transitionOf, transitionText, WHOLE_SCOPE, type AlertFigures, type AlertRule, type WindowFigures } from '../shared/alerts';
import { parseDuration } from '../shared/duration';
import { scoreGrounding } from '../shared/evals/scorers';
import { FailureType, retryableFailure, terminalFailure } from '../shared/failures';
import { describeFetchFailure, FetchRefused, guardedFetch, type HttpFetchOptions } from './tools/httpFetch';

export interface AlertDeps {
  db: Db;
  alerts: {
    webhook: AlertWebhookSettings;
    groundingSampleRate: number;
    /** The egress guard's DNS and dialer (tests); the defaults otherwise. */
    fetchOptions?: HttpFetchOptions;
  };
}

/** What one evaluation did: transitions made, and every transition waiting for its webhook (these and older ones). */
export interface AlertEvaluation {
  rules: number;
  judged: number;
  transitions: number;
  pendingEventIds: string[];
}

/** How far back the online judge looks for finished runs it has not judged, and how many it judges per evaluation. */
const JUDGE_LOOKBACK_SECONDS = 3600;
const JUDGE_BATCH = 200;
/** The name stored with each verdict: the grounding scorer of `bosun eval`, without an LLM judge. */
const ONLINE_JUDGE = 'evals.scoreGrounding';

export function createAlertActivities({ db, alerts }: AlertDeps) {
  return {
    /** Judges the sample, evaluates every rule, and lists the transitions whose webhook is still to be sent. */
    async evaluateAlertRules(): Promise<AlertEvaluation> {
      const judged = await judgeSampledRuns(db, alerts.groundingSampleRate);
      const rules = await listAlertRules(db);
      let transitions = 0;
      for (const rule of rules) transitions += await evaluateAndRecord(db, rule, alerts.webhook.defaultUrl);
      return { rules: rules.length, judged, transitions, pendingEventIds: await pendingAlertEvents(db) };
    },

    /**
     * POSTs a transition to its webhook once: JSON with a Slack-compatible `text`, and the event ID as
     * `Idempotency-Key` (the same on every retry, so a receiver can drop a repeat). Throws
     * AlertWebhookFailed (retried) for network trouble, 408, 429 and 5xx; AlertWebhookRefused (not
     * retried) when the guard refuses the URL or the receiver answers another 4xx. A transition
     * already settled is not sent again.
     */
    async deliverAlertEvent(eventId: string): Promise<'delivered' | 'settled'> {
      const event = await findAlertEvent(db, eventId);
      if (!event || event.delivery !== 'pending' || !event.webhookUrl) return 'settled';
      await postWebhook(event, alerts.webhook, alerts.fetchOptions);
      await settleAlertEvent(db, eventId, 'delivered');
      return 'delivered';
    },

    /** Records that a transition's webhook could not be delivered (the retries are spent), and why. */
    async markAlertDeliveryFailed(input: { eventId: string; error: string }): Promise<void> {
      await settleAlertEvent(db, input.eventId, 'failed', input.error.slice(0, 1000));
    },
  };
}

/**
 * Evaluates one rule in every scope it has (the whole population, or each tenant with activity,
 * plus each scope firing now, which resolves when nothing happened there). Returns the number of
 * transitions made.
 */
async function evaluateAndRecord(db: Db, rule: AlertRule, defaultWebhookUrl: string | undefined): Promise<number> {
  const windowSeconds = parseDuration(rule.window)! / 1000;
  const current = await signalFigures(db, rule, windowSeconds, 0);
  const baseline = rule.baseline ? await signalFigures(db, rule, parseDuration(rule.baseline.window)! / 1000, windowSeconds) : undefined;
  const scopes = new Set([...current.keys(), ...(await firingScopes(db, rule.ruleId))]);
  const none: WindowFigures = { samples: 0, value: null };
  let transitions = 0;
  for (const scope of scopes) {
    // A per-tenant rule's baseline is the same tenant's; a whole-population rule has one scope.
    const figures = evaluateRule(rule, current.get(scope) ?? none, baseline && (baseline.get(scope) ?? none));
    if (await recordEvaluation(db, rule, scope, figures, rule.webhookUrl ?? defaultWebhookUrl ?? null)) transitions += 1;
  }
  return transitions;
}

/** Stores an alert's figures and, on a transition, its new state and event, under the alert's row lock. True on a transition. */
async function recordEvaluation(db: Db, rule: AlertRule, scope: string, figures: AlertFigures, webhookUrl: string | null): Promise<boolean> {
  const tenantId = scope === WHOLE_SCOPE ? rule.tenantId : scope;
  return inTransaction(db, async (client) => {
    const previous = await lockAlert(client, rule.ruleId, scope);
    const transition = transitionOf(previous?.state, figures.firing);
    // A rule that has never fired keeps no alert until it does.
    if (!previous && !transition) return false;
    await saveAlert(client, { ruleId: rule.ruleId, scope, tenantId, state: figures.firing ? 'firing' : 'resolved', figures });
    if (!transition) return false;
    await insertAlertEvent(client, {
      eventId: randomUUID(), ruleId: rule.ruleId, scope, tenantId, transition, figures,
      text: transitionText(rule, scope, transition, figures), webhookUrl,
    });
    return true;
  });
}

/** The webhook's body: Slack's `text`, and the transition's figures for receivers that read more. */
function webhookBody(event: AlertEventRow) {
  return {
    text: event.text,
    eventId: event.eventId,
    transition: event.transition,
    ruleId: event.ruleId,
    scope: event.scope,
    tenantId: event.tenantId,
    figures: event.figures,
    at: event.createdAt,
  };
}

async function postWebhook(event: AlertEventRow, settings: AlertWebhookSettings, fetchOptions: HttpFetchOptions = {}): Promise<void> {
  let status: number;
  try {
    ({ status } = await guardedFetch(
      {
        url: event.webhookUrl!, method: 'POST', body: JSON.stringify(webhookBody(event)),
        headers: { 'content-type': 'application/json', 'idempotency-key': event.eventId, 'user-agent': 'bosun-alerts/1' },
      },
      { allowHosts: settings.allowHosts, allowPrivate: settings.allowPrivate },
      fetchOptions,
    ));
  } catch (err) {
    const message = `alert webhook ${new URL(event.webhookUrl!).host}: ${describeFetchFailure(err, fetchOptions.timeoutMs ?? 10_000)}`;
    if (err instanceof FetchRefused) throw terminalFailure(FailureType.AlertWebhookRefused, message);
    throw retryableFailure(FailureType.AlertWebhookFailed, message);
  }
  if (status >= 200 && status < 300) return;
  const message = `alert webhook ${new URL(event.webhookUrl!).host} answered HTTP ${status}`;
  if (status === 408 || status === 429 || status >= 500) throw retryableFailure(FailureType.AlertWebhookFailed, message);
  throw terminalFailure(FailureType.AlertWebhookRefused, message);
}

/**
 * The online judge: grades the sampled completed runs of agents a grounding rule watches with the
 * grounding scorer `bosun eval` uses (every claim of the answer in a tool result or the request),
 * and stores each verdict. Returns how many runs it judged.
 */
async function judgeSampledRuns(db: Db, rate: number): Promise<number> {
  if (rate <= 0) return 0;
  const runs = await runsToJudge(db, rate, JUDGE_LOOKBACK_SECONDS, JUDGE_BATCH);
  for (const run of runs) {
    const { pass, failures } = scoreGrounding(asScoredRun(run));
    await insertGroundingSample(db, run, { grounded: pass, failures, judge: ONLINE_JUDGE });
  }
  return runs.length;
}

function asScoredRun(run: RunToJudge) {
  return {
    runId: run.runId, status: run.status, input: run.input, output: run.output, error: null,
    createdAt: run.createdAt, startedAt: null, finishedAt: run.finishedAt, steps: run.steps, approvals: [], usage: { costUsd: run.costUsd },
  };
}
