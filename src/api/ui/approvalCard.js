/**
 * One approval as an approver acts on it: the tool, arguments, the model's stated reason, risk,
 * requester and expiry, and Approve / Reject / Edit arguments. An edit is sent as
 * `{ decision: "approve", arguments }`; the API checks it against the tool's pinned schema and
 * answers 400 listing the problems, shown here, with nothing decided.
 */
import { api, ApiError } from './api.js';
import { announce, facts, formatTime, h, problemsBox, timeUntil } from './dom.js';

const pretty = (value) => JSON.stringify(value, null, 2);

/** `approval`: an entry of GET /v1/approvals (or a run's pendingApprovals[] with `runId`); `onDecided()` after a 202. */
export function approvalCard(approval, { onDecided, showRun = true }) {
  const id = `approval-${approval.approvalId}`;
  const headingId = `${id}-tool`;
  const commentId = `${id}-comment`;
  const argumentsId = `${id}-arguments`;
  const errorSlot = h('div', { class: 'error-slot' });
  const busy = (on) => card.querySelectorAll('button, textarea, input').forEach((control) => (control.disabled = on));

  async function decide(decision, editedArguments) {
    errorSlot.replaceChildren();
    busy(true);
    const comment = card.querySelector(`#${CSS.escape(commentId)}`).value.trim();
    try {
      await api('POST', `/v1/runs/${approval.runId}/approvals/${approval.approvalId}`, {
        decision,
        ...(comment && { comment }),
        ...(editedArguments !== undefined && { arguments: editedArguments }),
      });
      announce(`${decision === 'approve' ? 'Approved' : 'Rejected'} ${approval.tool}${editedArguments ? ' with edited arguments' : ''}.`);
      onDecided(approval);
    } catch (err) {
      busy(false);
      const shown = err instanceof ApiError ? err : new ApiError(0, { error: { message: String(err) } });
      errorSlot.replaceChildren(problemsBox(shown));
      errorSlot.firstChild.focus();
    }
  }

  function approveEdited() {
    const text = card.querySelector(`#${CSS.escape(argumentsId)}`).value;
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      errorSlot.replaceChildren(problemsBox({ message: 'The arguments are not valid JSON.', problems: [`arguments: ${err.message}`] }));
      return errorSlot.firstChild.focus();
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      errorSlot.replaceChildren(problemsBox({ message: 'The arguments must be a JSON object.', problems: [] }));
      return errorSlot.firstChild.focus();
    }
    return decide('approve', parsed);
  }

  const editor = h(
    'div', { class: 'editor', hidden: true },
    h('label', { for: argumentsId }, 'Arguments (JSON), checked against the tool\'s schema'),
    h('textarea', { id: argumentsId, rows: 6, spellcheck: 'false', autocomplete: 'off' }),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: approveEdited }, 'Approve with these arguments'),
      h('button', { type: 'button', onclick: () => toggleEditor(false) }, 'Cancel edit')),
  );

  function toggleEditor(open) {
    editor.hidden = !open;
    editButton.setAttribute('aria-expanded', String(open));
    const textarea = editor.querySelector('textarea');
    if (open) {
      textarea.value = pretty(approval.arguments);
      textarea.focus();
    } else {
      errorSlot.replaceChildren();
      editButton.focus();
    }
  }

  const editButton = h('button', { type: 'button', 'aria-describedby': headingId, 'aria-expanded': 'false', 'aria-controls': `${id}-editor`, onclick: () => toggleEditor(editor.hidden) }, 'Edit arguments');
  editor.id = `${id}-editor`;
  const risk = approval.risk;
  const runLabel = approval.agent ? `${approval.agent} · ${approval.runId.slice(0, 8)}` : approval.runId.slice(0, 8);

  const card = h(
    'article', { class: 'approval', id, 'aria-labelledby': headingId },
    h('h2', { id: headingId, tabindex: '-1' }, h('code', {}, approval.tool), risk ? h('span', { class: `badge risk-${risk.kind}` }, risk.kind) : null),
    facts([
      ['Run', showRun ? h('a', { href: `#/runs/${approval.runId}` }, runLabel) : null],
      ['Reason', approval.reason ?? h('em', {}, 'none stated')],
      ['Risk', risk?.summary ?? null],
      ['Requested by', approval.requestedBy ?? null],
      ['Requested', formatTime(approval.requestedAt)],
      ['Expires', `${formatTime(approval.expiresAt)} (${timeUntil(approval.expiresAt)})`],
    ]),
    h('h3', {}, 'Arguments'),
    h('pre', { class: 'arguments' }, pretty(approval.arguments)),
    h('div', { class: 'comment' },
      h('label', { for: commentId }, 'Comment (optional)'),
      h('input', { id: commentId, type: 'text', maxlength: 2000, autocomplete: 'off' })),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', 'aria-describedby': headingId, onclick: () => decide('approve') }, 'Approve'),
      h('button', { type: 'button', class: 'danger', 'aria-describedby': headingId, onclick: () => decide('reject') }, 'Reject'),
      editButton),
    editor,
    errorSlot,
  );
  return card;
}
