/** Alert rules: what they accept, how figures become firing or not, transitions, and the rules file. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { alertRuleSpecSchema, evaluateRule, transitionOf, transitionText, type AlertRule } from '../../src/shared/alerts';
import { parseAlertRulesFile } from '../../src/worker/alertRules';

type RuleCore = Pick<AlertRule, 'signal' | 'window' | 'when' | 'threshold' | 'baseline' | 'minSamples'>;
const toolErrors: RuleCore = { signal: 'tool_error_rate', window: '15m', when: 'above', threshold: 0.2, baseline: null, minSamples: 10 };
const latencyDrift: RuleCore = { signal: 'p95_latency_ms', window: '15m', when: 'above', threshold: null, baseline: { window: '24h', factor: 1.5 }, minSamples: 20 };
const successDrop: RuleCore = { signal: 'task_success_rate', window: '1h', when: 'below', threshold: 0.9, baseline: null, minSamples: 5 };

describe('evaluateRule: absolute thresholds', () => {
  it('fires strictly above the threshold', () => {
    expect(evaluateRule(toolErrors, { samples: 10, value: 0.3 })).toMatchObject({ firing: true, limit: 0.2, value: 0.3, samples: 10 });
    expect(evaluateRule(toolErrors, { samples: 10, value: 0.2 })).toMatchObject({ firing: false, limit: 0.2 });
  });

  it('fires strictly below the threshold for a `below` rule', () => {
    expect(evaluateRule(successDrop, { samples: 5, value: 0.8 })).toMatchObject({ firing: true });
    expect(evaluateRule(successDrop, { samples: 5, value: 0.9 })).toMatchObject({ firing: false });
    expect(evaluateRule(successDrop, { samples: 5, value: 0.95 }).reason).toBe('95% ≥ 90% over the last 1h, 5 samples');
  });

  it('says why, with the signal in its unit', () => {
    expect(evaluateRule(toolErrors, { samples: 12, value: 0.75 }).reason).toBe('75% > 20% over the last 15m, 12 samples');
    const cost = evaluateRule({ ...toolErrors, signal: 'cost_per_run_usd', threshold: 0.05 }, { samples: 12, value: 0.0712 });
    expect(cost.reason).toBe('$0.0712 > $0.0500 over the last 15m, 12 samples');
  });
});

describe('evaluateRule: minimum samples', () => {
  it('never fires on fewer samples than the minimum, however bad the value', () => {
    const one = evaluateRule(toolErrors, { samples: 1, value: 1 });
    expect(one).toMatchObject({ firing: false, value: 1, samples: 1 });
    expect(one.reason).toBe('1 of the 10 samples needed in the last 15m');
    expect(evaluateRule(toolErrors, { samples: 9, value: 1 }).firing).toBe(false);
    expect(evaluateRule(toolErrors, { samples: 10, value: 1 }).firing).toBe(true);
  });

  it('does not fire on an empty window', () => {
    expect(evaluateRule({ ...toolErrors, minSamples: 1 }, { samples: 0, value: null })).toMatchObject({ firing: false, value: null });
  });
});

describe('evaluateRule: baselines', () => {
  it('fires above factor × the baseline window\'s value', () => {
    const figures = evaluateRule(latencyDrift, { samples: 20, value: 1600 }, { samples: 500, value: 1000 });
    expect(figures).toMatchObject({ firing: true, limit: 1500, baseline: { window: '24h', factor: 1.5, value: 1000, samples: 500 } });
    expect(figures.reason).toBe('1600 ms > 1.5 × 1000 ms (previous 24h) over the last 15m, 20 samples');
    expect(evaluateRule(latencyDrift, { samples: 20, value: 1500 }, { samples: 500, value: 1000 }).firing).toBe(false);
  });

  it('needs the minimum of samples in the baseline window too', () => {
    const figures = evaluateRule(latencyDrift, { samples: 50, value: 9000 }, { samples: 19, value: 1000 });
    expect(figures).toMatchObject({ firing: false, limit: null });
    expect(figures.reason).toBe('19 of the 20 samples needed in the baseline 24h');
    expect(evaluateRule(latencyDrift, { samples: 50, value: 9000 }, undefined)).toMatchObject({ firing: false, limit: null });
  });

  it('compares below the baseline for a `below` rule', () => {
    const drop: RuleCore = { ...successDrop, threshold: null, baseline: { window: '7d', factor: 0.8 } };
    expect(evaluateRule(drop, { samples: 5, value: 0.7 }, { samples: 100, value: 0.95 })).toMatchObject({ firing: true });
    expect(evaluateRule(drop, { samples: 5, value: 0.8 }, { samples: 100, value: 0.95 })).toMatchObject({ firing: false });
  });
});

describe('transitionOf', () => {
  it('fires once, stays quiet while firing, resolves once', () => {
    expect(transitionOf(undefined, true)).toBe('fired');
    expect(transitionOf('resolved', true)).toBe('fired');
    expect(transitionOf('firing', true)).toBeUndefined();
    expect(transitionOf('firing', false)).toBe('resolved');
    expect(transitionOf('resolved', false)).toBeUndefined();
    expect(transitionOf(undefined, false)).toBeUndefined();
  });

  it('names the rule, the agent, the tenant of a per-tenant alert, and the figures', () => {
    const figures = evaluateRule({ ...toolErrors, signal: 'cost_per_tenant_hour_usd', threshold: 2 }, { samples: 40, value: 3.5 });
    expect(transitionText({ ruleId: 'spend', agent: 'support', bundleId: null }, 'acme', 'fired', figures))
      .toBe('[FIRING] spend: cost per tenant per hour of agent support, tenant acme: $3.5000 > $2.0000 over the last 15m, 40 samples');
  });
});

describe('rules', () => {
  it('take exactly one of threshold and baseline, and list every problem', () => {
    const both = alertRuleSpecSchema.safeParse({ agent: 'a', signal: 'tool_error_rate', when: 'above', threshold: 1, baseline: { window: '1h', factor: 2 } });
    expect(both.success).toBe(false);
    const neither = alertRuleSpecSchema.safeParse({ agent: 'a', signal: 'tool_error_rate', when: 'above' });
    expect(neither.error?.issues.map((i) => i.path.join('.'))).toEqual(['threshold']);
    const bad = alertRuleSpecSchema.safeParse({ agent: '', signal: 'errors', when: 'above', threshold: 1, window: 'soon', minSamples: 0 });
    expect(bad.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['agent', 'minSamples', 'signal', 'window']);
  });

  it('default to a 15 minute window and 20 samples', () => {
    expect(alertRuleSpecSchema.parse({ agent: 'a', signal: 'cost_per_run_usd', when: 'above', threshold: 0.1 }))
      .toMatchObject({ window: '15m', minSamples: 20 });
  });
});

describe('the rules file', () => {
  const file = `
rules:
  - id: support-latency
    agent: support
    signal: p95_latency_ms
    when: above
    baseline: { window: 24h, factor: 1.5 }
  - id: acme-spend
    agent: support
    tenantId: acme
    signal: cost_per_tenant_hour_usd
    when: above
    threshold: 5
    webhookUrl: https://hooks.slack.com/services/T0/B0/x
`;

  it('becomes config rules, for every tenant unless one is named', () => {
    const rules = parseAlertRulesFile(file, 'rules.yaml');
    expect(rules.map((r) => [r.ruleId, r.source, r.tenantId])).toEqual([['config:support-latency', 'config', null], ['config:acme-spend', 'config', 'acme']]);
    expect(rules[0]!.spec).toMatchObject({ window: '15m', minSamples: 20, baseline: { window: '24h', factor: 1.5 } });
  });

  it('is refused with every problem, by rule and field', () => {
    expect(() => parseAlertRulesFile('rules:\n  - id: x y\n    agent: a\n    signal: nope\n    when: above\n', 'r.yaml'))
      .toThrow(/^r\.yaml: invalid alert rules:\n {2}- rules\.0\.id: .*\n {2}- rules\.0\.signal: .*$/);
    expect(() => parseAlertRulesFile('rules: [', 'r.yaml')).toThrow(/r\.yaml: not valid YAML/);
    const twice = 'rules:\n  - { id: a, agent: a, signal: tool_error_rate, when: above, threshold: 1 }\n  - { id: a, agent: b, signal: tool_error_rate, when: above, threshold: 1 }\n';
    expect(() => parseAlertRulesFile(twice, 'r.yaml')).toThrow(/rule ids must be unique; repeated: a/);
  });

  it('may be empty', () => {
    expect(parseAlertRulesFile('', 'r.yaml')).toEqual([]);
  });
});

describe('alert configuration', () => {
  it('allows the default webhook\'s host, and turns the schedule off', () => {
    const { alerts } = loadConfig({ BOSUN_ALERT_WEBHOOK_URL: 'https://hooks.slack.com/services/x', BOSUN_ALERT_WEBHOOK_HOSTS: '*.example.com', BOSUN_ALERT_INTERVAL: 'off' });
    expect(alerts).toMatchObject({ intervalMs: undefined, webhook: { allowHosts: ['*.example.com', 'hooks.slack.com'], allowPrivate: false } });
    expect(loadConfig({}).alerts).toMatchObject({ intervalMs: 60_000, groundingSampleRate: 0.1, operatorTenants: [] });
  });

  it('refuses a bad interval or host pattern', () => {
    expect(() => loadConfig({ BOSUN_ALERT_INTERVAL: 'often' })).toThrow(/BOSUN_ALERT_INTERVAL: must be a duration/);
    expect(() => loadConfig({ BOSUN_ALERT_WEBHOOK_HOSTS: 'a b' })).toThrow(/BOSUN_ALERT_WEBHOOK_HOSTS: "a b" is not a host pattern/);
  });
});
