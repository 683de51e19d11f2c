// The alert feed: what needs someone first (an unacknowledged red on top), coloured by
// severity, sortable and filterable by severity, state, kind and place; updated live.

import { byId, h, mount } from './dom.js';
import { ago, fullTime, when } from './format.js';
import { lang, t } from './i18n.js';
import { alertText, kindName, subjectName } from './messages.js';
import { SEVERITIES, isOpen, rank, state } from './state.js';

const FRESH_MS = 8000;
const fresh = new Map(); // id -> time it arrived live
const SORTS = ['priority', 'newest', 'oldest', 'severity'];
const STATE_ORDER = { firing: 1, pending: 2, acknowledged: 3, resolved: 4 };

// The reader's choices; kept for the tab (a reload keeps them, a new tab starts afresh).
const VIEW_KEY = 'villagewatch.feed';
const view = { sort: 'priority', severity: '', state: '', kind: '', place: '', ...readView() };

function readView() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(VIEW_KEY) ?? '{}');
    return typeof saved === 'object' && saved ? saved : {};
  } catch {
    return {}; // a hand-edited value: the defaults
  }
}

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

/** 0 for an open red nobody has acknowledged (pinned on top), then by state. */
function group(a) {
  if (a.severity === 'red' && (a.state === 'firing' || a.state === 'pending')) return 0;
  return STATE_ORDER[a.state] ?? 5;
}

const time = (a) => new Date(a.fired ?? a.opened ?? a.started).getTime();

/** The comparator of a sort order; ties fall back to the newest first, then the id. */
export function comparator(sort) {
  const newest = (a, b) => time(b) - time(a) || b.id - a.id;
  if (sort === 'newest') return newest;
  if (sort === 'oldest') return (a, b) => -newest(a, b);
  if (sort === 'severity') return (a, b) => rank(b.severity) - rank(a.severity) || newest(a, b);
  return (a, b) => group(a) - group(b) || rank(b.severity) - rank(a.severity) || newest(a, b);
}

/** A test of "is this place `place` or under it" (grid:v/g1-bridge is under village:v). */
function under(place) {
  if (!place) return () => true;
  const parents = new Map(state.places.map((p) => [p.id, p.parent]));
  const inside = new Map(); // place id -> answer, for the render at hand
  return (placeId) => {
    if (!inside.has(placeId)) {
      let found = false;
      for (let p = placeId, hops = 0; p && hops < 20 && !found; p = parents.get(p), hops += 1) found = p === place;
      inside.set(placeId, found);
    }
    return inside.get(placeId);
  };
}

function shown() {
  const inPlace = under(view.place);
  return [...state.alerts.values()]
    .filter((a) => state.filter === 'all' || isOpen(a))
    .filter((a) => !view.severity || a.severity === view.severity)
    .filter((a) => !view.state || a.state === view.state)
    .filter((a) => !view.kind || a.kind === view.kind)
    .filter((a) => inPlace(a.place))
    .sort(comparator(view.sort));
}

function item(a, now) {
  const classes = ['item', `sev-${a.severity}`, `st-${a.state}`];
  if (fresh.has(a.id)) classes.push('fresh');
  if (state.selected === a.id) classes.push('selected');
  if (group(a) === 0) classes.push('pinned');
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

// Items drawn before, by alert id, with what they showed: a storm of alerts redraws the feed
// every frame, and rebuilding hundreds of unchanged items each time froze the wall.
const drawn = new Map(); // id -> { look, el }

/** The item of `a`, the one drawn before when nothing it shows has changed. */
function itemOf(a, now) {
  const look = [JSON.stringify(a), lang(), fresh.has(a.id), state.selected === a.id,
    when(a.started), ago(a.started, now)].join('|');
  const before = drawn.get(a.id);
  if (before?.look === look) return before.el;
  const el = item(a, now);
  drawn.set(a.id, { look, el });
  return el;
}

/** Put `items` in `list` in order, moving only what is out of place. */
function place(list, items) {
  const now = [...list.children];
  if (now.length === items.length && now.every((el, i) => el === items[i])) return;
  list.replaceChildren(...items);
}

/** One chip per severity, labelled ("红色 2"); a click shows only that severity (again: all). */
function counts() {
  const open = [...state.alerts.values()].filter(isOpen);
  return [...SEVERITIES].reverse().map((sev) => {
    const n = open.filter((a) => a.severity === sev).length;
    return h('button', {
      type: 'button',
      class: `count sev-${sev}${n ? '' : ' zero'}${view.severity === sev ? ' on' : ''}`,
      'data-testid': `count-${sev}`,
      'aria-pressed': String(view.severity === sev),
      title: t('feed.chip.title', { sev: t(`sev.${sev}`), n }),
      onclick: () => choose('severity', view.severity === sev ? '' : sev),
    }, h('span', { class: 'count-label' }, t(`sev.${sev}`)), ' ', h('b', {}, String(n)));
  });
}

function choose(name, value) {
  view[name] = value;
  sessionStorage.setItem(VIEW_KEY, JSON.stringify(view));
  if (name === 'state' && value === 'resolved' && state.filter !== 'all') {
    // resolved alerts are not loaded while the feed shows open ones: load them (app.js)
    const loaded = byId('feed-filter');
    loaded.value = 'all';
    loaded.dispatchEvent(new Event('change'));
    return;
  }
  renderFeed();
}

function select(name, testid, options) {
  const known = options.some(([value]) => value === view[name]);
  if (!known) view[name] = ''; // a kind or place no longer listed
  return h('label', { class: 'ff' },
    h('span', { class: 'ff-label' }, t(`feed.f.${name}`)),
    h('select', {
      'data-testid': testid,
      onchange: (ev) => choose(name, ev.target.value),
    }, options.map(([value, text]) => h('option', { value, selected: value === view[name] }, text))));
}

function filters() {
  const kinds = [...new Set([...state.alerts.values()].map((a) => a.kind))].sort();
  if (view.kind && !kinds.includes(view.kind)) kinds.push(view.kind);
  const places = state.places.filter((p) => p.kind !== 'town' || state.places.length === 1);
  return [
    select('sort', 'feed-sort', SORTS.map((s) => [s, t(`feed.sort.${s}`)])),
    select('severity', 'feed-severity', [['', t('feed.any')],
      ...[...SEVERITIES].reverse().map((s) => [s, t(`sev.${s}`)])]),
    select('state', 'feed-state-filter', [['', t('feed.any')],
      ...['firing', 'pending', 'acknowledged', 'resolved'].map((st) => [st, t(`state.${st}`)])]),
    select('kind', 'feed-kind', [['', t('feed.any')], ...kinds.map((k) => [k, kindName(k)])]),
    select('place', 'feed-place', [['', t('feed.any')],
      ...places.map((p) => [p.id, p.kind === 'grid' ? `· ${p.name}` : p.name])]),
  ];
}

function filterBar() {
  let bar = document.getElementById('feed-filters');
  if (!bar) {
    bar = h('div', { id: 'feed-filters', class: 'feed-filters', 'data-testid': 'feed-filters' });
    byId('feed-list').before(bar);
  }
  return bar;
}

/** Draw the feed from state.alerts. */
export function renderFeed() {
  const now = Date.now();
  const list = byId('feed-list');
  const bar = filterBar();
  // redrawn only when nobody is choosing in it: a select must not close under the finger
  if (!bar.contains(document.activeElement)) mount(bar, filters());
  const alerts = shown();
  if (alerts.length === 0) {
    drawn.clear();
    mount(list, h('li', { class: 'empty' }, t(state.loaded ? 'feed.empty' : 'feed.loading')));
  } else {
    const items = alerts.map((a) => itemOf(a, now));
    const showing = new Set(alerts.map((a) => a.id));
    for (const id of drawn.keys()) if (!showing.has(id)) drawn.delete(id);
    place(list, items);
  }
  mount(byId('feed-counts'), counts());
  byId('feed-total').textContent = t('feed.count', { n: alerts.length });
  const red = [...state.alerts.values()].filter((a) => a.severity === 'red' && isOpen(a)).length;
  document.title = `${red ? `(${red}) ` : ''}${t('app.title')}`;
}
