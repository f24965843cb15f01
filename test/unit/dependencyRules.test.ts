/**
 * The architecture as a test: which folder of src may import which (the rules are in
 * test/support/importGraph.ts and the README's "Where things live"). A violation names the file,
 * the import and the rule it breaks. Each rule is also shown to catch the imports it forbids, so a
 * rule that silently stopped matching would fail here too.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cyclesOf, importsOf, ruleViolations, sqlIn, type SourceImport } from '../support/importGraph';

const srcDir = path.resolve(__dirname, '../../src');

describe('dependency rules of src', () => {
  it('no folder imports what its rule forbids', () => {
    expect(ruleViolations(importsOf(srcDir))).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cyclesOf(importsOf(srcDir))).toEqual([]);
  });

  it('keeps SQL out of src/api and src/cli', () => {
    expect(sqlIn(srcDir, ['api', 'cli'])).toEqual([]);
  });
});

describe('each rule catches what it forbids', () => {
  const project = (from: string, to: string, typeOnly = false): SourceImport => ({ from, to, typeOnly, project: true });
  const pkg = (from: string, to: string): SourceImport => ({ from, to, typeOnly: false, project: false });

  // The imports that broke the rules on main before the rooms were sorted (architecture review, 0d317cf).
  it.each([
    ['the CLI imports server code', project('cli/runCommands', 'api/runRepository')],
    ['the CLI imports config', project('cli/keyCommands', 'config')],
    ['the API imports an activity module', project('api/agentsRouter', 'activities/rollouts')],
    ['a workflow imports an activity module by value', project('workflows/agentRun', 'activities/index')],
    ['a workflow imports a type from an activity module other than the index', project('workflows/rollout', 'activities/rollouts', true)],
    ['a workflow imports a Node built-in', pkg('workflows/agentRun', 'node:crypto')],
    ['a workflow imports an I/O library', pkg('workflows/agentRun', 'pg')],
    ['shared imports I/O code', project('shared/domain', 'db/pool')],
    ['shared imports a Node built-in', pkg('shared/bundle', 'node:fs')],
    ['db imports code above it', project('db/transcript', 'activities/model/window')],
    ['config imports the secret store', project('config', 'secrets/secretStore')],
    ['memory imports an activity module', project('memory/service', 'activities/toolCalls')],
    ['memory imports config', project('memory/embeddings', 'config')],
    ['the contract imports the API', project('contract/runs', 'api/errors')],
    ['telemetry reads a table itself', project('telemetry/metrics', 'db/approvals')],
    ['a workflow other than the tracing interceptors imports the OpenTelemetry API', pkg('workflows/agentRun', '@opentelemetry/api')],
    ['the tracing gate imports the OpenTelemetry API (it loads tracingSpans only when traced)', pkg('workflows/tracing', '@opentelemetry/api')],
    ['telemetry imports an activity', project('telemetry/tracing', 'activities/index')],
    ['the bundle store imports telemetry', project('bundles/bundleStore', 'telemetry/tracing')],
    ['a contract file other than openapi imports the OpenAPI generator', pkg('contract/runs', '@asteasolutions/zod-to-openapi')],
    ['the CLI imports the OpenAPI generator instead of the generated types', project('cli/apiClient', 'contract/openapi')],
  ])('%s', (_, violation) => {
    expect(ruleViolations([violation])).toHaveLength(1);
  });

  it('allows what the rules allow', () => {
    expect(ruleViolations([
      project('workflows/agentRun', 'activities/index', true),
      project('workflows/agentRun/act', 'shared/tools'),
      pkg('workflows/agentRun', '@temporalio/workflow'),
      pkg('workflows/tracingSpans', '@opentelemetry/api'),
      project('activities/toolCalls', 'telemetry/tracing'),
      project('telemetry/tracing', 'config'),
      project('cli/runCommands', 'contract/index'),
      project('db/runs', 'shared/domain'),
      project('api/runsRouter', 'db/runs'),
      project('memory/service', 'db/memory'),
      project('api/memoryRouter', 'memory/service'),
      project('api/app', 'telemetry/metrics'),
      project('activities/toolCalls', 'telemetry/logger'),
      project('telemetry/logger', 'config'),
      pkg('contract/openapi', '@asteasolutions/zod-to-openapi'),
      project('cli/apiClient', 'cli/generated/openapi'),
    ])).toEqual([]);
  });

  it('finds a cycle, type-only imports included', () => {
    expect(cyclesOf([project('shared/domain', 'shared/approvals', true), project('shared/approvals', 'shared/domain')]))
      .toEqual(['shared/approvals ⇄ shared/domain']);
  });
});
