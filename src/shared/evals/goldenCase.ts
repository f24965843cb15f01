/**
 * A golden case: one line of a suite (`evals/golden_set.jsonl`). It says what to ask, how the human
 * answers the approvals, what the agent should do and say, and the tool tapes: the recorded results
 * its tool calls get, so the case runs offline and no write tool touches a live system. Pure.
 */
import { z } from 'zod';
import { tapesSchema } from '../tapes';

const jsonObject = z.record(z.string(), z.unknown());

export { tapeEntrySchema, type TapeEntry } from '../tapes';

export const outcomes = ['completed', 'refused', 'needs_approval', 'failed'] as const;
export type Outcome = (typeof outcomes)[number];

/** A tool call the agent should make: its name, and the arguments it must include (a subset). */
export const expectedCallSchema = z.strictObject({ name: z.string().min(1), args: jsonObject.optional() });
export type ExpectedCall = z.infer<typeof expectedCallSchema>;

/** How the eval answers an approval of `tool`: approve, reject, or approve with edited `arguments`. */
export const caseApprovalSchema = z
  .strictObject({
    tool: z.string().min(1),
    decision: z.enum(['approve', 'reject', 'edit']),
    arguments: jsonObject.optional().describe('edit: the arguments the tool runs with instead.'),
    comment: z.string().max(2000).optional(),
  })
  .refine((a) => (a.decision === 'edit') === (a.arguments !== undefined), 'an edit needs arguments, and only an edit has them');
export type CaseApproval = z.infer<typeof caseApprovalSchema>;

export const expectationSchema = z.strictObject({
  outcome: z.enum(outcomes).default('completed').describe(
    'completed: the run completed. refused: it completed without any approved action. needs_approval: it asked a human. failed: it did not complete.',
  ),
  contains: z.array(z.string().min(1)).default([]).describe('Text the answer must contain (case-insensitive).'),
  not_contains: z.array(z.string().min(1)).default([]).describe('Text the answer must not contain (case-insensitive).'),
  tools: z.array(expectedCallSchema).optional().describe('The expected trajectory; absent: not checked, []: no tool call.'),
  ordered: z.boolean().default(true).describe('The calls must come in this order.'),
  extra_calls: z.boolean().default(false).describe('Calls beyond the expected ones are allowed.'),
});
export type Expectation = z.infer<typeof expectationSchema>;

export const provenanceSchema = z.strictObject({
  runId: z.string(),
  bundleId: z.string(),
  reason: z.string(),
  addedAt: z.string(),
});

export const conversationTurnSchema = z.strictObject({ role: z.enum(['user', 'assistant']), content: z.string() });

export const goldenCaseSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . - (at most 100)'),
  input: z.string().min(1),
  conversation: z.array(conversationTurnSchema).max(50).optional().describe('Earlier turns, before `input`.'),
  approvals: z.array(caseApprovalSchema).default([]).describe('The approvals the agent should ask for, in order, and their answers.'),
  expect: expectationSchema.prefault({}),
  tapes: tapesSchema.default([]).describe('Recorded tool results (src/shared/tapes.ts): a call none covers fails the case.'),
  provenance: provenanceSchema.optional(),
});
export type GoldenCase = z.infer<typeof goldenCaseSchema>;

export type SuiteParse = { ok: true; cases: GoldenCase[] } | { ok: false; problems: string[] };

/** Parses a JSON Lines suite: every problem named by line (blank lines and `//` comments skipped). */
export function parseSuite(text: string): SuiteParse {
  const problems: string[] = [];
  const cases: GoldenCase[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const at = `line ${index + 1}`;
    if (!line || line.startsWith('//')) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      problems.push(`${at}: not JSON (${(err as Error).message})`);
      return;
    }
    const parsed = goldenCaseSchema.safeParse(value);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((i) => `${at}: ${i.path.join('.') || '(case)'}: ${i.message}`));
      return;
    }
    const earlier = seen.get(parsed.data.id);
    if (earlier) problems.push(`${at}: id "${parsed.data.id}" is already used on line ${earlier}`);
    seen.set(parsed.data.id, index + 1);
    cases.push(parsed.data);
  });
  if (!problems.length && !cases.length) problems.push('the suite has no cases');
  return problems.length ? { ok: false, problems } : { ok: true, cases };
}

/** The text a case's run gets as `input`: earlier turns, if any, then the request itself. */
export function runInputOf(c: Pick<GoldenCase, 'input' | 'conversation'>): string {
  if (!c.conversation?.length) return c.input;
  const turns = c.conversation.map((t) => `${t.role}: ${t.content}`).join('\n');
  return `Earlier in this conversation:\n${turns}\n\nNow: ${c.input}`;
}

/** Stable JSON: object keys sorted, so equal values hash alike whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
