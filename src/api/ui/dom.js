/**
 * Building the page without innerHTML: every text from the API becomes a text node, so no
 * argument, reason or tool name can inject markup.
 */

/** An element: `h('a', { href: '#/' }, 'Inbox')`; attributes `on<event>` become listeners, `false`/`null` ones are left out. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'text') element.textContent = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...nodes(children));
  return element;
}

/** What `append` / `replaceChildren` take from nested arrays of nodes and strings: flattened, without null, undefined or false. */
export function nodes(items) {
  return items.flat(Infinity).filter((item) => item !== null && item !== undefined && item !== false);
}

/** Says `message` to screen readers (the polite live region). */
export function announce(message) {
  const region = document.getElementById('announcer');
  region.textContent = '';
  // A new text node after a tick, so the same message twice is announced twice.
  setTimeout(() => (region.textContent = message), 50);
}

/** `2026-11-30 14:02` in the reader's time zone; `—` for null. */
export function formatTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** `in 23 h`, `in 4 min`, `expired`: how long until `iso`. */
export function timeUntil(iso) {
  const minutes = Math.round((new Date(iso).getTime() - Date.now()) / 60_000);
  if (minutes <= 0) return 'expired';
  if (minutes < 120) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `in ${hours} h` : `in ${Math.round(hours / 24)} days`;
}

/** A definition list of `[term, description]` pairs, leaving out null descriptions. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, value]) => value !== null && value !== undefined).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/** An error box listing the API's problems (each a `field: what is wrong` line), focused so it is read at once. */
export function problemsBox(error) {
  // A 400's message repeats its problems on one line; the list says it better.
  const heading = error.problems?.length ? 'Not accepted; nothing was decided:' : error.message;
  const box = h('div', { class: 'problems', role: 'alert', tabindex: '-1' }, h('p', {}, heading));
  if (error.problems?.length) box.append(h('ul', {}, error.problems.map((problem) => h('li', {}, problem))));
  return box;
}

/**
 * `fn` called once, `ms` after the last of a burst of calls (a run's events come in bursts);
 * `.cancel()` drops a call still waiting.
 */
export function debounce(fn, ms) {
  let pending;
  const call = () => {
    clearTimeout(pending);
    pending = setTimeout(fn, ms);
  };
  call.cancel = () => clearTimeout(pending);
  return call;
}
