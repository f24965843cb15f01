/**
 * `npm run record-histories`: runs each workflow path once on a real dev server and saves its event
 * history under test/fixtures/histories, for the replay test to guard against non-determinism.
 * Re-record only when a workflow change is meant to be incompatible (and then version it).
 * `npm run record-histories -- <name>...` records only the named scenarios (a new path), leaving
 * the other fixtures as they were recorded.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findOrBuildTemporalCli } from '../../src/dev/temporalServer';
import { provisionTestServices } from './provision';
import { historyScenarios } from './historyScenarios';
import { startTestStack } from './testStack';

const outDir = path.resolve(__dirname, '../fixtures/histories');

async function main() {
  const wanted = process.argv.slice(2);
  const known = historyScenarios.scenarios.map((s) => s.name);
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const scenarios = wanted.length ? historyScenarios.scenarios.filter((s) => wanted.includes(s.name)) : historyScenarios.scenarios;
  const cli = findOrBuildTemporalCli(process.env.TEMPORAL_CLI, console.log);
  if (!cli) throw new Error('recording needs the Temporal CLI; install Go or set TEMPORAL_CLI');
  const services = await provisionTestServices();
  const stack = await startTestStack({ services, approvalTimeout: '2s', script: historyScenarios.script });
  try {
    mkdirSync(outDir, { recursive: true });
    for (const scenario of scenarios) {
      const runId = await scenario.run(stack);
      // The CLI writes the same JSON the Temporal UI exports, which the replayer reads.
      const history = execFileSync(cli, ['workflow', 'show', '--workflow-id', runId, '--output', 'json', '--address', services.temporalAddress], {
        encoding: 'utf8',
      });
      writeFileSync(path.join(outDir, `${scenario.name}.json`), history);
      console.log(`recorded ${scenario.name} (${JSON.parse(history).events.length} events)`);
    }
  } finally {
    await stack.close();
    await services.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
