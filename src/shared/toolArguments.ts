/**
 * The check of a model's (or an approver's) tool-call arguments against the tool's pinned JSON
 * Schema. Pure, and free of code generation (@cfworker/json-schema interprets the schema), so the
 * workflow runs it before any activity is scheduled, and the API runs the same check on an
 * approver's edit.
 */
import { Validator, type OutputUnit } from '@cfworker/json-schema';
import type { JsonSchema } from './toolSpec';

export type ParsedToolArgs = { ok: true; args: unknown } | { ok: false; problems: string[] };

/** Keywords whose failure only says that a nested keyword failed; the nested one is the problem to report. */
const wrapperKeywords = new Set(['false', 'properties', 'items', 'prefixItems', 'allOf', '$ref', 'additionalItems', 'unevaluatedProperties']);

const validators = new Map<string, Validator>();

/** One compiled validator per schema (keyed by its text): a run checks many calls of few tools. */
function validatorFor(schema: JsonSchema): Validator {
  const key = JSON.stringify(schema);
  let validator = validators.get(key);
  if (!validator) {
    validator = new Validator(schema as never, '2020-12', false);
    validators.set(key, validator);
  }
  return validator;
}

/** Whether `raw` parses as JSON: a model's tool-call arguments arrive as text, which may be cut off or malformed. */
export function isJsonText(raw: string): boolean {
  try {
    JSON.parse(raw);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses the model's raw argument text (empty text counts as `{}`) and checks it against
 * `parameters`. Problems read `<path>: <what is wrong>`, e.g. `items.0.sku: ...`, `(root): ...`.
 */
export function parseToolArguments(parameters: JsonSchema, raw: string): ParsedToolArgs {
  let json: unknown;
  try {
    json = JSON.parse(raw === '' ? '{}' : raw);
  } catch {
    return { ok: false, problems: ['arguments are not valid JSON'] };
  }
  return checkToolArguments(parameters, json);
}

/** Checks already-parsed arguments (an approver's edit) against `parameters`. */
export function checkToolArguments(parameters: JsonSchema, args: unknown): ParsedToolArgs {
  const result = validatorFor(parameters).validate(args);
  if (result.valid) return { ok: true, args };
  return { ok: false, problems: describe(result.errors) };
}

function describe(errors: OutputUnit[]): string[] {
  const leaves = errors.filter((e) => !wrapperKeywords.has(e.keyword));
  const shown = (leaves.length ? leaves : errors).map((e) => `${dottedPath(e.instanceLocation)}: ${e.error}`);
  return [...new Set(shown)];
}

/** `#/items/0/sku` → `items.0.sku`; the whole value → `(root)`. */
function dottedPath(instanceLocation: string): string {
  const pointer = instanceLocation.replace(/^#\/?/, '');
  return pointer ? pointer.split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~')).join('.') : '(root)';
}
