// The alert feed: newest first, coloured by severity, updated live from the stream.

import { byId, h, mount } from './dom.js';
import { ago, fullTime, when } from './format.js';
import { t } from './i18n.js';
import { alertText, subjectName } from './messages.js';
import { SEVERITIES, isOpen, state } from './state.js';

const FRESH_MS = 8000;
const fresh = new Map(); // id -> time it arrived live

/** Mark an alert as just arrived, so it stands out for a few seconds. */
export function markFresh(id) {
  fresh.set(id, Date.now());
  setTimeout(() => { fresh.delete(id); renderFeed(); }, FRESH_MS + 50);
}

/** The severity badge, in the warning colour. */
export function severityBadge(severity, testid) {
  return h('span', { class: `sev sev-${severity}`, 'data-testid': testid }, t(`sev.${severity}`));
}

/** The state badge. */
export function stateBadge(alertState, testid) {
  return h(
    'span',
    { class: `badge st-${alertState}`, 'data-testid': testid, 'data-state': alertState },
    t(`state.${alertState}`),
  );
}

function item(a, now) {
  const classes = ['item', `sev-${a.severity}`, `st-${a.state}`];
  if (fresh.has(a.id)) classes.push('fresh');
  if (state.selected === a.id) classes.push('selected');
  const where = [a.place_name, subjectName(a), a.assignee ? `→ ${a.assignee}` : null].filter(Boolean);
  return h(
    'li',
    {
      class: classes.join(' '),
      'data-testid': 'feed-item',
      'data-alert-id': a.id,
      'data-state': a.state,
      'data-severity': a.severity,
      tabindex: 0,
      onclick: () => { location.hash = `alert/${a.id}`; },
      onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = `alert/${a.id}`; },
    },
    severityBadge(a.severity),
    h(
      'div',
      { class: 'item-main' },
      h('div', { class: 'item-msg' }, alertText(a)),
      h('div', { class: 'item-meta' }, where.join(' · ')),
    ),
    h(
      'div',
      { class: 'item-side' },
      stateBadge(a.state, 'feed-state'),
      h('time', { datetime: a.started, title: fullTime(a.started) }, when(a.started)),
      h('span', { class: 'ago' }, ago(a.started, now)),
    ),
  );
}

function counts() {
  const open = [...state.alerts.values()].filter(isOpen);
  return [...SEVERITIES].reverse().map((sev) => {
    const n = open.filter((a) => a.severity === sev).length;
    return h('span', { class: `count sev-${sev}${n ? '' : ' zero'}`, title: t(`sev.${sev}`) }, n);
  });
}

/** Draw the feed from state.alerts. */
export function renderFeed() {
  const now = Date.now();
  const shown = [...state.alerts.values()]
    .filter((a) => state.filter === 'all' || isOpen(a))
    .sort((a, b) => b.id - a.id);
  const list = byId('feed-list');
  if (shown.length === 0) {
    mount(list, h('li', { class: 'empty' }, t(state.loaded ? 'feed.empty' : 'feed.loading')));
  } else {
    mount(list, shown.map((a) => item(a, now)));
  }
  mount(byId('feed-counts'), counts());
  byId('feed-total').textContent = t('feed.count', { n: shown.length });
  const red = [...state.alerts.values()].filter((a) => a.severity === 'red' && isOpen(a)).length;
  document.title = `${red ? `(${red}) ` : ''}${t('app.title')}`;
}
