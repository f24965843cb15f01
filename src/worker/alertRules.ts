/**
 * BOSUN_ALERT_RULES: the operator's alert rules in a YAML file, read by the worker at start and
 * stored in PostgreSQL (where the evaluation reads every rule), replacing the file's rules stored
 * before: a rule removed from the file is deleted with its alerts.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { replaceConfigRules, type NewAlertRule } from '../db/alerts';
import { inTransaction, type Db } from '../db/pool';
import { alertRulesFileSchema, configRuleId } from '../shared/alerts';

/**
 * The rules of the YAML text `text`, as they are stored. Throws listing every problem (by the
 * rule's position and field) when the text is not a valid rules file.
 */
export function parseAlertRulesFile(text: string, fileName: string): NewAlertRule[] {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new Error(`${fileName}: not valid YAML (${(err as Error).message})`);
  }
  const parsed = alertRulesFileSchema.safeParse(document ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`);
    throw new Error(`${fileName}: invalid alert rules:\n  - ${problems.join('\n  - ')}`);
  }
  const ids = parsed.data.rules.map((r) => r.id);
  const repeated = ids.filter((id, index) => ids.indexOf(id) !== index);
  if (repeated.length > 0) throw new Error(`${fileName}: rule ids must be unique; repeated: ${[...new Set(repeated)].join(', ')}`);
  return parsed.data.rules.map(({ id, tenantId, ...spec }) => ({
    ruleId: configRuleId(id), source: 'config', tenantId: tenantId ?? null, spec: { ...spec, tenantId }, createdBy: 'system:config',
  }));
}

/** Reads the rules file (none: no rules from configuration) and stores its rules. Rejects when it cannot be read or is invalid. */
export async function syncAlertRulesFile(db: Db, path: string | undefined): Promise<number> {
  const rules = path ? parseAlertRulesFile(await readFile(path, 'utf8'), path) : [];
  await inTransaction(db, (client) => replaceConfigRules(client, rules));
  return rules.length;
}
