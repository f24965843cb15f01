/**
 * What the Temporal UI shows of a run without opening it: the workflow's static summary and details
 * (set by the API when it starts the run) and each activity's summary (set by the workflow when it
 * schedules the activity), e.g. `model step 3 · gpt-4o-mini`, `issue_refund · order 1001`.
 * Everything here is redacted (./redaction.ts) and short: Temporal stores it in the history as it is
 * (encrypted with the payload codec when encryption is on). Pure, safe to import from workflows.
 */
import { redact, redactText, REDACTED, type RedactionRules } from './redaction';

/** Temporal shows a summary on one line; longer ones are cut with an ellipsis. */
const MAX_SUMMARY_CHARS = 120;

/** `text` on one line and at most `max` characters, cut with `…`. */
export function oneLine(text: string, max = MAX_SUMMARY_CHARS): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1).trimEnd()}…`;
}

export interface RunDescription {
  agent: string;
  bundleId: string;
  tenantId: string;
  /** The user's input, as sent; only its first non-empty line, redacted, is shown. */
  input: string;
}

/**
 * Characters of a long input the headline is read from. Redaction's patterns take time that grows
 * faster than the text (a 1 MiB input took hours), and 80 characters are shown.
 */
const HEADLINE_SOURCE_CHARS = 2000;

/**
 * What of an input is redacted for its headline: all of it when short; else its first non-empty
 * line cut to HEADLINE_SOURCE_CHARS at a space (a token cut in two might hide a secret from the
 * patterns, so a cut one is dropped), and of a long JSON input only its opening bracket (its keys,
 * which decide what is redacted, cannot be read from a piece).
 */
function headlineSource(input: string): string {
  if (input.length <= HEADLINE_SOURCE_CHARS) return input;
  const first = input.split(/\r?\n/, 50).find((line) => line.trim() !== '')?.trim() ?? '';
  if (/^[[{]/.test(first)) return `${first[0]}…`;
  if (first.length <= HEADLINE_SOURCE_CHARS) return first;
  const cut = first.slice(0, HEADLINE_SOURCE_CHARS + 1);
  const lastSpace = cut.search(/\s\S*$/);
  return lastSpace > 0 ? `${cut.slice(0, lastSpace)} …` : '…';
}

/** The first non-empty line of a run's input, redacted and cut to one short line. */
export function inputHeadline(input: string): string {
  const first = redactText(headlineSource(input)).split(/\r?\n/).find((line) => line.trim() !== '') ?? '';
  return oneLine(first, 80);
}

/**
 * The workflow's `staticSummary` (`support · Refund order 1001`) and `staticDetails` (Markdown:
 * agent, bundle, tenant and the input's first line), as the Temporal UI lists and shows them.
 */
export function runStaticMetadata(run: RunDescription): { staticSummary: string; staticDetails: string } {
  const headline = inputHeadline(run.input);
  return {
    staticSummary: oneLine(`${run.agent} · ${headline}`),
    staticDetails: [
      `**Agent** ${run.agent}`,
      `**Bundle** ${run.bundleId}`,
      `**Tenant** ${run.tenantId}`,
      `**Input** ${headline}`,
    ].join('\n\n'),
  };
}

/** A model step's activity summary: `model step 3 · gpt-4o-mini` (`model step 3` when the model is not known). */
export function modelStepSummary(step: number, model: string | undefined): string {
  return oneLine(model ? `model step ${step} · ${model}` : `model step ${step}`);
}

/**
 * A tool call's activity summary: the tool and its key argument, redacted with the tool's rules and
 * Bosun's always-redacted keys: `issue_refund · order 1001`. The key argument is the first whose name
 * ends in `id` (shown without the `_id`), else the first string or number; `issue_refund` alone when
 * there is none.
 */
export function toolCallSummary(tool: string, args: unknown, rules?: RedactionRules): string {
  const key = keyArgument(redact(args, rules));
  return oneLine(key ? `${tool} · ${key}` : tool);
}

function keyArgument(args: unknown): string | undefined {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return undefined;
  const scalars = Object.entries(args).filter(
    (entry): entry is [string, string | number] => typeof entry[1] === 'string' || typeof entry[1] === 'number',
  );
  const identifier = scalars.find(([name]) => isIdentifier(name));
  const [name, value] = identifier ?? scalars[0] ?? [];
  if (name === undefined) return undefined;
  const label = identifier ? name.replace(/_?(id|Id|ID)$/, '') || name : name;
  const shown = value === REDACTED ? REDACTED : oneLine(redactText(String(value)), 60);
  return `${label.replace(/_/g, ' ')} ${shown}`;
}

/** `id`, `order_id`, `orderId`: a name that says its value identifies something. */
const isIdentifier = (name: string) => /^id$/i.test(name) || /_id$/i.test(name) || /[a-z](Id|ID)$/.test(name);
