// The command-centre wall (大屏, ?big=1): beside the live feed and the plan, tiles of the open
// alerts by severity, the unacknowledged, today's alarms and median time to acknowledge,
// devices offline; the open alerts by kind; the last 24 h and 30 days (wallchart.js); and the
// town view, one tile per village with its worst open severity.
//
// One /api/wall call (counted in SQL) when the wall opens; then the live stream's changes
// keep the tiles exact (the wall holds every open alert in brief) and count new alarms at
// once, and the figures are asked again once changes settle (at most every 10 s) and every
// 5 minutes (the hour and the day move on). Drawing waits for the next animation frame, so
// 20 alerts a second cost one redraw a frame at most.

import { ApiError, api } from './api.js';
import { byId, h, mount } from './dom.js';
import { dateFormat } from './format.js';
import { onLangChange, t } from './i18n.js';
import { session } from './session.js';
import { SEVERITIES, isOpen, on, rank, state } from './state.js';
import { disposeTrends, drawTrends, redrawTrends } from './wallchart.js';

const AFTER_CHANGE_MS = 10000;
const IDLE_MS = 300000;
const KINDS_SHOWN = 8;
const WORST_FIRST = [...SEVERITIES].reverse();

const wall = {
  active: false,
  summary: null, // the last /api/wall answer, with live additions
  open: new Map(), // id -> {id, village, place, kind, severity, state, updated}
  asking: false,
  again: false, // a resync came while asking: ask once more
  during: [], // stream changes that arrived while asking, applied on top of the answer
  counted: new Set(), // alarms counted live since the answer (it does not hold them)
  asOf: 0,
  error: null,
  soon: null, // the refresh after changes
  idle: null, // the refresh every 5 minutes
  frame: 0,
  ready: false,
};

// --- figures -----------------------------------------------------------------------------

function brief(a) {
  const { id, village, place, kind, severity, state: st, updated } = a;
  return { id, village, place, kind, severity, state: st, updated };
}

function merge(a) {
  const before = wall.open.get(a.id);
  if (before && Date.parse(before.updated) > Date.parse(a.updated)) return;
  if (isOpen(a)) wall.open.set(a.id, brief(a));
  else wall.open.delete(a.id);
}

function bump(buckets, at, severity) {
  const b = buckets.find((x) => Date.parse(x.start) <= at && at < Date.parse(x.end));
  if (b) b.counts[severity] = (b.counts[severity] ?? 0) + 1;
}

// A new alarm counts today and in the trends at once; the next answer holds it anyway.
function countNew(a) {
  const s = wall.summary;
  const fired = a.fired ? Date.parse(a.fired) : NaN;
  if (!s || !(fired > wall.asOf) || wall.counted.has(a.id)) return;
  wall.counted.add(a.id);
  if (fired >= Date.parse(s.day_start)) {
    s.today.fired += 1;
    const v = s.villages.find((x) => x.id === a.village);
    if (v) v.fired_today += 1;
  }
  bump(s.hourly, fired, a.severity);
  bump(s.daily, fired, a.severity);
}

async function refresh() {
  if (!wall.active) return;
  if (wall.asking) {
    wall.again = true;
    return;
  }
  clearTimeout(wall.soon);
  wall.soon = null;
  wall.asking = true;
  wall.during = [];
  try {
    const s = await api('/api/wall');
    if (!wall.active) return;
    wall.summary = s;
    wall.asOf = Date.parse(s.as_of);
    wall.open = new Map(s.open.map((a) => [a.id, a]));
    wall.counted.clear();
    for (const a of wall.during) {
      merge(a);
      countNew(a);
    }
    wall.error = null;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    wall.error = err;
  } finally {
    wall.asking = false;
    wall.during = [];
  }
  clearTimeout(wall.idle);
  wall.idle = setTimeout(refresh, IDLE_MS);
  if (wall.again) {
    wall.again = false;
    refresh();
  }
  schedule();
}

function changed(a) {
  if (!wall.active) return;
  if (wall.asking) wall.during.push(a);
  merge(a);
  countNew(a);
  wall.soon ??= setTimeout(refresh, AFTER_CHANGE_MS);
  schedule();
}

// --- drawing -------------------------------------------------------------------------------

function schedule() {
  if (!wall.active || wall.frame) return;
  wall.frame = requestAnimationFrame(() => {
    wall.frame = 0;
    renderWall();
  });
}

function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return t('wall.dur.s', { s });
  if (s < 3600) return t('wall.dur.m', { m: Math.floor(s / 60), s: s % 60 });
  return t('wall.dur.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

function tile(testid, cls, label, value, sub, data = {}) {
  return h(
    'div',
    { class: `wall-tile ${cls}`, 'data-testid': testid, ...data },
    h('div', { class: 'wall-label' }, label),
    h('div', { class: 'wall-value' }, value),
    h('div', { class: 'wall-sub' }, sub),
  );
}

function worst(alerts) {
  let found = null;
  for (const a of alerts) if (!found || rank(a.severity) > rank(found)) found = a.severity;
  return found;
}

function tiles(open) {
  const s = wall.summary;
  const out = WORST_FIRST.map((sev) => {
    const mine = open.filter((a) => a.severity === sev);
    const unacked = mine.filter((a) => a.state !== 'acknowledged').length;
    return tile(
      `wall-open-${sev}`, `sev-${sev} wall-sev${mine.length ? '' : ' zero'}`,
      t('wall.sev', { sev: t(`sev.${sev}`) }), mine.length, t('wall.unacked', { n: unacked }),
      { 'data-count': mine.length, 'data-unacked': unacked },
    );
  });
  const unacked = open.filter((a) => a.state !== 'acknowledged').length;
  out.push(tile('wall-unacked', `wall-unacked${unacked ? ' alarm' : ''}`, t('wall.unacked.title'),
    unacked, t('wall.unacked.sub'), { 'data-count': unacked }));
  out.push(tile('wall-today', 'wall-plain', t('wall.today'), s.today.fired,
    t('wall.today.sub', { ack: s.today.acknowledged, res: s.today.resolved }),
    { 'data-count': s.today.fired }));
  const median = s.today.ack_median_s;
  out.push(tile('wall-median', 'wall-plain wall-median', t('wall.median'),
    median === null ? '—' : duration(median),
    median === null ? t('wall.median.none') : t('wall.median.sub', { n: s.today.acknowledged }),
    { 'data-seconds': median ?? '' }));
  const offline = state.devices.filter((d) => d.link === 'offline').length;
  const never = state.devices.filter((d) => d.link === 'never').length;
  out.push(tile('wall-offline', `wall-plain${offline ? ' warn' : ''}`, t('wall.offline'), offline,
    t('wall.offline.sub', { total: state.devices.length, never }), { 'data-count': offline }));
  return out;
}

function kindName(kind) {
  const key = `wall.kind.${kind}`;
  const name = t(key);
  return name === key ? kind : name;
}

function kinds(open) {
  const by = new Map();
  for (const a of open) {
    if (!by.has(a.kind)) by.set(a.kind, []);
    by.get(a.kind).push(a);
  }
  const rows = [...by.entries()]
    .map(([kind, list]) => ({ kind, n: list.length, sev: worst(list) }))
    .sort((x, y) => rank(y.sev) - rank(x.sev) || y.n - x.n || x.kind.localeCompare(y.kind));
  if (!rows.length) return h('p', { class: 'wall-none' }, t('wall.kinds.none'));
  return h('ul', { class: 'wall-kinds' }, rows.slice(0, KINDS_SHOWN).map((r) => h(
    'li',
    { class: `sev-${r.sev}`, 'data-testid': 'wall-kind', 'data-kind': r.kind, 'data-count': r.n },
    h('span', { class: 'wall-kind-name' }, kindName(r.kind)),
    h('span', { class: 'wall-kind-n' }, r.n),
  )));
}

// The town view belongs to those who see more than one village, or a town or everything.
function townLevel() {
  const places = session()?.places ?? [];
  return wall.summary.villages.length > 1 || places.some((p) => p === '*' || p.startsWith('town:'));
}

function town(open) {
  const byVillage = new Map();
  for (const a of open) {
    if (!byVillage.has(a.village)) byVillage.set(a.village, []);
    byVillage.get(a.village).push(a);
  }
  const towns = new Map();
  for (const v of wall.summary.villages) {
    if (!towns.has(v.town)) towns.set(v.town, { name: v.town_name, villages: [] });
    towns.get(v.town).villages.push(v);
  }
  return [...towns.values()].map((tw) => h(
    'div',
    { class: 'town' },
    towns.size > 1 ? h('h3', { class: 'town-name' }, tw.name) : null,
    h('div', { class: 'town-grid' }, tw.villages.map((v) => {
      const mine = byVillage.get(v.id) ?? [];
      const sev = worst(mine);
      const unacked = mine.filter((a) => a.state !== 'acknowledged').length;
      return h(
        'div',
        {
          class: `town-village ${sev ? `sev-${sev}` : 'calm'}`,
          'data-testid': 'town-village', 'data-village': v.id, 'data-worst': sev ?? 'none',
          'data-open': mine.length, 'data-unacked': unacked, 'data-today': v.fired_today,
        },
        h('div', { class: 'town-village-name' }, v.name),
        h('div', { class: 'town-village-sev' }, sev ? t(`sev.${sev}`) : t('wall.town.calm')),
        h('div', { class: 'town-village-n' }, t('wall.town.open', { n: mine.length })),
        h('div', { class: 'town-village-sub' },
          `${t('wall.unacked', { n: unacked })} · ${t('wall.town.today', { n: v.fired_today })}`),
      );
    })),
  ));
}

/** Draw the wall from what it knows (nothing when the wall is not open). */
export function renderWall() {
  if (!wall.active) return;
  const el = byId('wall-tiles');
  if (!wall.summary) {
    const text = wall.error ? t('wall.failed', { detail: wall.error.detail }) : t('wall.loading');
    mount(el, h('p', { class: wall.error ? 'wall-none error' : 'wall-none' }, text));
    return;
  }
  const open = [...wall.open.values()];
  mount(el, tiles(open));
  mount(byId('wall-kinds'), kinds(open));
  const showTown = townLevel();
  byId('wall-town').hidden = !showTown;
  if (showTown) mount(byId('wall-town-body'), town(open));
  byId('wall-as-of').textContent = t('wall.as_of', {
    time: dateFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
      .format(new Date(wall.asOf)),
  });
  drawTrends(wall.summary);
  if (!wall.ready) {
    wall.ready = true;
    el.dataset.ready = 'true';
    performance.mark('wall-ready'); // the benchmark's first frame
  }
}

// --- opening and closing -------------------------------------------------------------------

/** Show the wall: ask its figures and follow the stream. */
export function openWall() {
  if (wall.active) return;
  wall.active = true;
  renderWall();
  refresh();
}

/** Leave the wall (or log out): forget its figures, stop its timers, free its charts. */
export function closeWall() {
  wall.active = false;
  clearTimeout(wall.soon);
  clearTimeout(wall.idle);
  cancelAnimationFrame(wall.frame);
  Object.assign(wall, {
    summary: null, open: new Map(), soon: null, idle: null, frame: 0, ready: false, error: null,
    again: false, during: [],
  });
  wall.counted.clear();
  byId('wall-tiles').removeAttribute('data-ready');
  disposeTrends();
}

/** Follow the stream's changes and resyncs, the devices and the language. */
export function initWall() {
  on('alert', changed);
  on('resync', refresh);
  on('devices', schedule);
  onLangChange(() => {
    renderWall();
    redrawTrends(); // the legend's words now, not within the second
  });
}
