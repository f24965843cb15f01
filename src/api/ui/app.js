/**
 * The approvals inbox's entry point: sign-in with an API key (kept in sessionStorage only), then
 * `#/` (pending approvals) or `#/runs/<runId>` (a run's page). Plain ES modules, no build step.
 */
import { api, session } from './api.js';
import { h, problemsBox } from './dom.js';
import { showInbox } from './inbox.js';
import { showRun } from './run.js';

const main = document.getElementById('main');
const signOutButton = document.getElementById('sign-out');
let leaveView = () => {};
let config;

function signOut(message) {
  session.signOut();
  route(message);
}

signOutButton.addEventListener('click', () => signOut('Signed out.'));

function showSignIn(message) {
  signOutButton.hidden = true;
  const input = h('input', { id: 'api-key', name: 'api-key', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' });
  const errorSlot = h('div', { class: 'error-slot' });
  const form = h('form', { class: 'sign-in', novalidate: true },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Use a Bosun API key with the approver role. It is kept in this tab only and forgotten when the tab closes.'),
    message ? h('p', { role: 'status' }, message) : null,
    h('label', { for: 'api-key' }, 'API key'),
    input,
    errorSlot,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return input.focus();
    session.signIn(key);
    try {
      // The key is checked where the inbox will use it.
      await api('GET', '/v1/approvals?status=pending&limit=1');
      input.value = '';
      route();
    } catch (err) {
      session.signOut();
      const shown = err.status === 401 ? { message: 'That API key is not valid (or was revoked).' } : err.status === 403 ? { message: 'That API key lacks the approver role.' } : err;
      errorSlot.replaceChildren(problemsBox(shown));
      input.focus();
    }
  });
  main.replaceChildren(form);
  input.focus();
}

/** Shows the view the hash names, or sign-in without a key. */
function route(message) {
  leaveView();
  leaveView = () => {};
  if (!session.key) return showSignIn(message);
  signOutButton.hidden = false;
  const onUnauthorized = () => signOut('The API key stopped working; sign in again.');
  const runMatch = /^#\/runs\/([0-9a-f-]{36})$/i.exec(location.hash);
  leaveView = runMatch ? showRun(main, runMatch[1], { config, onUnauthorized }) : showInbox(main, { onUnauthorized });
  main.focus();
}

window.addEventListener('hashchange', () => route());
config = await (await fetch('./config.json', { cache: 'no-store' })).json();
route();
