/**
 * The check of a model's (or an approver's) tool-call arguments against the tool's pinned JSON
 * Schema. Pure, and free of code generation (@cfworker/json-schema interprets the schema), so the
 * workflow runs it before any activity is scheduled, and the API runs the same check on an
 * approver's edit.
 */
import { Validator, type OutputUnit } from '@cfworker/json-schema';
import type { JsonSchema } from './toolSpec';

export type ParsedToolArgs = { ok: true; args: unknown } | { ok: false; problems: string[] };

/**
 * Keywords whose failure only says that a nested keyword failed (`false` is the nested failure of
 * `additionalProperties`, which names the property itself); the other one is the problem to report.
 */
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

/**
 * Checks already-parsed arguments (an approver's edit) against `parameters`. A schema that cannot
 * be applied (a pattern that is not a valid Unicode regular expression, a `$ref` that resolves to
 * nothing; publishing refuses those, see schemaProblems) refuses the call rather than throwing:
 * in the workflow a throw would fail its task again and again.
 */
export function checkToolArguments(parameters: JsonSchema, args: unknown): ParsedToolArgs {
  let result: ReturnType<Validator['validate']>;
  try {
    result = validatorFor(parameters).validate(args);
  } catch (err) {
    return { ok: false, problems: [`(root): the tool's argument schema cannot be applied (${err instanceof Error ? err.message : String(err)})`] };
  }
  if (result.valid) return { ok: true, args };
  return { ok: false, problems: describe(result.errors, parameters) };
}

/**
 * What in an argument schema the validator could not apply, each as `<where>: <why>`: a `pattern`
 * (or `patternProperties` key) that is not a valid regular expression in Unicode mode, which is how
 * JSON Schema patterns run; a `$ref` other than a local one (`#/...`) that resolves inside the
 * schema. Empty when the schema is usable.
 */
export function schemaProblems(schema: JsonSchema): string[] {
  const problems: string[] = [];
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((child, i) => visit(child, `${at}/${i}`));
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'pattern' && typeof value === 'string') problems.push(...regexProblem(value, `${at}/pattern`));
      if (key === 'patternProperties' && value !== null && typeof value === 'object') {
        for (const p of Object.keys(value)) problems.push(...regexProblem(p, `${at}/patternProperties`));
      }
      if (key === '$ref' && typeof value === 'string' && resolvePointer(schema, value) === undefined) {
        problems.push(`${at || '/'}: $ref "${value}" does not resolve inside the schema`);
      }
      visit(value, `${at}/${key}`);
    }
  };
  visit(schema, '');
  return problems;
}

function regexProblem(pattern: string, at: string): string[] {
  try {
    new RegExp(pattern, 'u');
    return [];
  } catch {
    return [`${at}: "${pattern}" is not a valid regular expression in Unicode mode (how JSON Schema patterns run)`];
  }
}

function resolvePointer(schema: JsonSchema, ref: string): unknown {
  if (ref === '#') return schema;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = schema;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** One line per problem, for the model (and an approver), at the innermost place that is wrong. */
function describe(errors: OutputUnit[], schema: JsonSchema): string[] {
  const leaves = errors.filter((e) => !wrapperKeywords.has(e.keyword));
  return [...new Set((leaves.length ? leaves : errors).map((e) => problemOf(e, schema)))];
}

/** `<path>: <what is wrong>`, worded for a model to fix its call, with the limit the schema sets. */
function problemOf(e: OutputUnit, schema: JsonSchema): string {
  const path = dottedPath(e.instanceLocation);
  const limit = resolvePointer(schema, e.keywordLocation);
  const named = /"([^"]*)"/.exec(e.error)?.[1];
  const at = (name: string | undefined) => (path === '(root)' ? name : `${path}.${name}`);
  switch (e.keyword) {
    case 'additionalProperties': return `${at(named)}: not an argument of this tool`;
    case 'required': return `${at(named)}: required`;
    case 'pattern': return `${path}: does not match the pattern ${String(limit)}`;
    case 'maxLength': return `${path}: longer than ${characters(limit)}`;
    case 'minLength': return `${path}: shorter than ${characters(limit)}`;
    case 'maximum': return `${path}: must be at most ${String(limit)}`;
    case 'minimum': return `${path}: must be at least ${String(limit)}`;
    case 'exclusiveMaximum': return `${path}: must be less than ${String(limit)}`;
    case 'exclusiveMinimum': return `${path}: must be greater than ${String(limit)}`;
    case 'const': return `${path}: must be ${JSON.stringify(limit)}`;
    case 'enum': return `${path}: must be one of ${JSON.stringify(limit)}`;
    case 'type': {
      const [, got, expected] = /"([^"]*)".*"([^"]*)"/.exec(e.error) ?? [];
      return got && expected ? `${path}: expected ${expected}, got ${got}` : `${path}: ${e.error}`;
    }
    default: return `${path}: ${e.error}`;
  }
}

const characters = (n: unknown) => `${String(n)} character${n === 1 ? '' : 's'}`;

/** `#/items/0/sku` → `items.0.sku`; the whole value → `(root)`. */
function dottedPath(instanceLocation: string): string {
  const pointer = instanceLocation.replace(/^#\/?/, '');
  return pointer ? pointer.split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~')).join('.') : '(root)';
}
