/**
 * The inbox: the tenant's pending approvals, newest first (GET /v1/approvals?status=pending). It
 * refreshes when the event stream of a listed run reports an approval asked or decided or the run's
 * end, and every POLL_MS for approvals of runs it does not follow yet (there is no tenant-wide
 * stream). It follows at most MAX_STREAMS runs, the newest: a browser opens only six connections to
 * one host over HTTP/1.1, and the page's own requests need some.
 */
import { api, followRun } from './api.js';
import { approvalCard } from './approvalCard.js';
import { announce, debounce, h } from './dom.js';

const POLL_MS = 10_000;
const MAX_STREAMS = 3;
const LIVE_EVENTS = new Set(['approval.requested', 'approval.decided', 'run.finished']);

/** Renders the inbox into `main`; returns the function that stops its streams and timers. */
export function showInbox(main, { onUnauthorized }) {
  const list = h('ul', { class: 'approvals', 'aria-label': 'Pending approvals' });
  const status = h('p', { class: 'muted', id: 'inbox-status' });
  const refreshButton = h('button', { type: 'button', onclick: () => refresh({ announceCount: true }) }, 'Refresh');
  main.replaceChildren(
    h('div', { class: 'title-row' }, h('h1', {}, 'Pending approvals'), refreshButton),
    status,
    list,
  );

  const streams = new Map();
  let stopped = false;
  const scheduleRefresh = debounce(refresh, 300);
  const poll = setInterval(refresh, POLL_MS);

  function follow(runIds) {
    for (const [runId, stop] of streams) {
      if (!runIds.includes(runId)) {
        stop();
        streams.delete(runId);
      }
    }
    for (const runId of runIds) {
      if (!streams.has(runId)) streams.set(runId, followRun(runId, (type) => LIVE_EVENTS.has(type) && scheduleRefresh()));
    }
  }

  /** After a decision: the list again, focus on the next approval (or the heading when none is left). */
  function decided(approval) {
    const items = [...list.children];
    const index = items.findIndex((item) => item.dataset.approvalId === approval.approvalId);
    refresh().then(() => {
      const next = list.children[Math.min(index, list.children.length - 1)];
      (next?.querySelector('h2') ?? main.querySelector('h1')).focus();
    });
  }

  async function refresh({ announceCount = false } = {}) {
    if (stopped) return;
    try {
      const { approvals } = await api('GET', '/v1/approvals?status=pending&limit=100');
      if (stopped) return;
      // Keep a card the approver is working in (its editor open or a comment typed) as it is.
      const kept = new Map([...list.children].filter(isBeingEdited).map((item) => [item.dataset.approvalId, item]));
      list.replaceChildren(...approvals.map((approval) => kept.get(approval.approvalId) ?? listItem(approval)));
      status.textContent = approvals.length === 0
        ? 'Nothing waits for a decision.'
        : `${approvals.length} waiting, newest first. Updated ${new Date().toLocaleTimeString()}.`;
      if (announceCount) announce(status.textContent);
      follow([...new Set(approvals.map((a) => a.runId))].slice(0, MAX_STREAMS));
    } catch (err) {
      if (err.status === 401) return onUnauthorized();
      status.textContent = err.status === 403 ? 'This API key lacks the approver role.' : `Could not load the approvals: ${err.message}`;
    }
  }

  function listItem(approval) {
    const item = h('li', {}, approvalCard(approval, { onDecided: decided }));
    item.dataset.approvalId = approval.approvalId;
    return item;
  }

  refresh();
  return () => {
    stopped = true;
    clearInterval(poll);
    scheduleRefresh.cancel();
    follow([]);
  };
}

function isBeingEdited(item) {
  const editor = item.querySelector('.editor');
  return (editor && !editor.hidden) || item.querySelector('.comment input')?.value || item.contains(document.activeElement);
}
