/**
 * Tool tapes: recorded tool results a run is answered from instead of its tools, so an eval case
 * runs offline and reproducibly and a write never reaches a live system. A golden case carries its
 * tapes; `POST /v1/runs` accepts them (a run with tapes is a sandbox run); the tool activity answers
 * each call from the first unused entry that covers it (src/activities/toolCalls.ts). Pure: the
 * contract, the CLI and the activities share it.
 */
import { z } from 'zod';
import { diffJson } from './diff';
import { REDACTED } from './redaction';

/** At most this many entries per run: a golden case's conversation, not a replay of a day. */
export const MAX_TAPE_ENTRIES = 500;

/** One recorded tool call. */
export const tapeEntrySchema = z.strictObject({
  tool: z.string().min(1).max(200).describe('The tool the call names.'),
  args: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("A subset of the call's arguments: every key given must equal the call's (deep equality); absent covers any call of the tool."),
  result: z.unknown().describe('What the tool returns: the model is shown it as the call\'s result.'),
  status: z.enum(['ok', 'error']).optional().describe('`error`: the call is recorded as a tool error with `result` as its output; `ok` by default.'),
});
export type TapeEntry = z.infer<typeof tapeEntrySchema>;

/** A run's tapes, in the order they are matched. */
export const tapesSchema = z.array(tapeEntrySchema).max(MAX_TAPE_ENTRIES);

/** A tool call as the tape sees it: the tool and the arguments it runs with. */
export interface TapeCall {
  tool: string;
  args: unknown;
}

/** True when `entry` covers `call`: the same tool, and each of the entry's `args` keys equal in the call's arguments. */
export function tapeCovers(entry: TapeEntry, call: TapeCall): boolean {
  if (entry.tool !== call.tool) return false;
  const wanted = Object.entries(entry.args ?? {});
  if (wanted.length === 0) return true;
  if (!isObject(call.args)) return false;
  const given = call.args;
  return wanted.every(([key, value]) => Object.hasOwn(given, key) && diffJson(value, given[key]).length === 0);
}

/**
 * The index in `entries` of the first entry not in `used` that covers `call`, or undefined when
 * none does (the call is missed: it fails, and never runs live).
 */
export function matchTape(entries: readonly TapeEntry[], used: ReadonlySet<number>, call: TapeCall): number | undefined {
  const index = entries.findIndex((entry, i) => !used.has(i) && tapeCovers(entry, call));
  return index === -1 ? undefined : index;
}

/** What the model is told of a call no entry covers (`args` as the step row shows them: redacted). */
export function missedTapeMessage(call: TapeCall): string {
  return `no tape covers this call: ${call.tool} ${JSON.stringify(call.args ?? {})}`;
}

/**
 * The tape entry of a recorded tool call, for a new golden case: its redacted result and status,
 * and its arguments without the fields redaction masked (a masked value would never equal the
 * call's, and a subset without it still covers the call).
 */
export function tapeOfRecordedCall(call: { tool: string; args: unknown; result: unknown; status: 'ok' | 'error' }): TapeEntry {
  const args = isObject(call.args) ? Object.fromEntries(Object.entries(call.args).filter(([, v]) => !holdsRedacted(v))) : {};
  return { tool: call.tool, args, result: call.result, status: call.status };
}

function holdsRedacted(value: unknown): boolean {
  if (value === REDACTED) return true;
  if (Array.isArray(value)) return value.some(holdsRedacted);
  return isObject(value) && Object.values(value).some(holdsRedacted);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
