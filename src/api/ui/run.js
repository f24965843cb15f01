/**
 * A run's page: status, steps, tool calls, tokens and cost (GET /v1/runs/:runId), its pending
 * approvals with the same controls as the inbox, and a link to the run in the Temporal Web UI.
 * Re-read whenever the run's event stream reports something, until the run ends.
 */
import { api, followRun } from './api.js';
import { approvalCard } from './approvalCard.js';
import { debounce, facts, formatTime, h, nodes, problemsBox } from './dom.js';

const usd = (value) => `$${value.toFixed(value < 0.01 ? 6 : 4)}`;

/** Renders run `runId` into `main`; `config` is /ui/config.json. Returns the function that stops its stream. */
export function showRun(main, runId, { config, onUnauthorized }) {
  let stopped = false;
  const reload = debounce(load, 200);
  const stopStream = followRun(runId, reload);

  async function load() {
    if (stopped) return;
    try {
      const run = await api('GET', `/v1/runs/${encodeURIComponent(runId)}`);
      if (!stopped) render(run);
    } catch (err) {
      if (err.status === 401) return onUnauthorized();
      const hint = err.status === 403 ? ' Reading a run needs an API key with the runner role.' : '';
      main.replaceChildren(h('h1', {}, 'Run'), problemsBox({ message: `${err.message}${hint}`, problems: err.problems }));
    }
  }

  function render(run) {
    const hadFocus = main.contains(document.activeElement) && document.activeElement.id;
    const temporalUrl = `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(run.runId)}`;
    const tools = run.steps.filter((step) => step.kind === 'tool');
    main.replaceChildren(...nodes([
      h('p', {}, h('a', { href: '#/' }, '← Pending approvals')),
      h('div', { class: 'title-row' },
        h('h1', {}, `${run.agent} · run ${run.runId.slice(0, 8)}`),
        h('span', { class: `badge status-${run.status}` }, run.status.replaceAll('_', ' '))),
      facts([
        ['Run ID', h('code', {}, run.runId)],
        ['Bundle', h('code', {}, run.bundleId)],
        ['Input', run.input],
        ['Started', formatTime(run.startedAt ?? run.createdAt)],
        ['Finished', run.finishedAt ? formatTime(run.finishedAt) : null],
        ['Tokens', `${run.usage.inputTokens} in (${run.usage.cachedInputTokens} cached) · ${run.usage.outputTokens} out`],
        ['Cost', usd(run.usage.costUsd)],
        ['Temporal', h('a', { href: temporalUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Open this run in the Temporal UI')],
      ]),
      run.output ? [h('h2', {}, 'Answer'), h('p', { class: 'output' }, run.output)] : null,
      run.error ? h('div', { class: 'problems', role: 'note' }, h('p', {}, `${run.error.code}: ${run.error.message}`)) : null,
      run.pendingApprovals.length
        ? [h('h2', {}, 'Waiting for you'), h('ul', { class: 'approvals' }, run.pendingApprovals.map((a) =>
            h('li', {}, approvalCard({ ...a, runId: run.runId, agent: run.agent }, { onDecided: reload, showRun: false }))))]
        : null,
      h('h2', {}, 'Steps'),
      stepsTable(run.steps),
      h('h2', {}, 'Tool calls'),
      tools.length
        ? h('ul', { class: 'tool-calls' }, tools.map((call) => h('li', {},
            h('p', {}, h('code', {}, call.name), ` · step ${call.step} · `, h('span', { class: `badge status-${call.status}` }, call.status)),
            h('pre', { class: 'arguments' }, JSON.stringify(call.detail.arguments ?? null, null, 2)))))
        : h('p', { class: 'muted' }, 'No tool calls yet.'),
    ]));
    if (hadFocus) document.getElementById(hadFocus)?.focus();
  }

  load();
  return () => {
    stopped = true;
    reload.cancel();
    stopStream();
  };
}

function stepsTable(steps) {
  if (steps.length === 0) return h('p', { class: 'muted' }, 'No steps yet.');
  const head = ['Step', 'Kind', 'Model or tool', 'Status', 'Tokens in / out', 'Cost', 'Latency'];
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Steps' },
    h('table', {},
      h('thead', {}, h('tr', {}, head.map((title) => h('th', { scope: 'col' }, title)))),
      h('tbody', {}, steps.map((step) => h('tr', {},
        h('td', {}, String(step.step)),
        h('td', {}, step.kind),
        h('td', {}, h('code', {}, step.name)),
        h('td', {}, step.status),
        h('td', {}, `${step.inputTokens} / ${step.outputTokens}`),
        h('td', {}, usd(step.costUsd)),
        h('td', {}, `${step.latencyMs} ms`))))));
}
