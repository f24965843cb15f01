/**
 * What a workflow's history costs, counted from its events: how many events, workflow tasks,
 * activities (by type), local activities (markers by activity type), timers and search-attribute
 * upserts. For tests of a run's shape and for printing before/after figures.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = {
  workflowTaskScheduled: 5, activityTaskScheduled: 10, timerStarted: 17, markerRecorded: 25, upsertSearchAttributes: 40,
} as const;

export interface HistoryShape {
  events: number;
  workflowTasks: number;
  /** Activity types in the order they were scheduled. */
  activities: string[];
  /** Local activity types (their markers) in the order they were recorded. */
  localActivities: string[];
  /** Patch IDs recorded (core_patch markers). */
  patches: string[];
  timers: number;
  upserts: number;
}

/** The shape of `events` (a history as the client's fetchHistory gives it). */
export function historyShape(events: HistoryEvent[]): HistoryShape {
  const typed = (t: number) => events.filter((e) => Number(e.eventType) === t);
  const markers = typed(EventType.markerRecorded).map((e) => e.markerRecordedEventAttributes!);
  return {
    events: events.length,
    workflowTasks: typed(EventType.workflowTaskScheduled).length,
    activities: typed(EventType.activityTaskScheduled).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!),
    localActivities: typed(EventType.markerRecorded).flatMap((e) => localActivityType(e) ?? []),
    patches: markers.filter((m) => m.markerName === 'core_patch').map((m) => markerDetail(m, 'patch-data')?.id ?? '?'),
    timers: typed(EventType.timerStarted).length,
    upserts: typed(EventType.upsertSearchAttributes).length,
  };
}

/**
 * The summaries the Temporal UI shows for the activities and local activities of `events` (a
 * history with unencrypted payloads), in the order they were scheduled or recorded, as
 * `activityType: summary` (`(none)` without one).
 */
export function activitySummaries(events: HistoryEvent[]): string[] {
  return events.flatMap((e) => {
    const name = Number(e.eventType) === EventType.activityTaskScheduled
      ? e.activityTaskScheduledEventAttributes!.activityType!.name!
      : localActivityType(e);
    if (name === undefined) return [];
    const summary = e.userMetadata?.summary;
    return [`${name}: ${summary ? defaultPayloadConverter.fromPayload<string>(summary) : '(none)'}`];
  });
}

/** The activity type of a local activity's marker; undefined for any other event. */
function localActivityType(e: HistoryEvent): string | undefined {
  return localActivityCall(e)?.activityType;
}

/**
 * What a local activity's marker records of the call: its type, its attempt, and whether it ended
 * in a backoff (a retry that waits longer than the local retry threshold, as a workflow timer);
 * undefined for any other event.
 */
export function localActivityCall(e: HistoryEvent): { activityType: string; attempt: number; backoff: boolean } | undefined {
  const marker = Number(e.eventType) === EventType.markerRecorded ? e.markerRecordedEventAttributes! : undefined;
  if (marker?.markerName !== 'core_local_activity') return undefined;
  const data = markerDetail(marker, 'data') ?? {};
  return { activityType: data.activity_type ?? data.activityType ?? '?', attempt: data.attempt ?? 1, backoff: Boolean(data.backoff) };
}

type Marker = NonNullable<HistoryEvent['markerRecordedEventAttributes']>;

function markerDetail(m: Marker, key: string): any {
  const payload = m.details?.[key]?.payloads?.[0]?.data;
  return payload ? JSON.parse(Buffer.from(payload).toString('utf8')) : undefined;
}
