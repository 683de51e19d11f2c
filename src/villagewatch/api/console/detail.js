// One alert in full, in a side panel: message, severity, state, place, times, the evidence
// picture, the sensor chart, notes and history, and the actions (operators and above).

import { ApiError, api, blob, post } from './api.js';
import { drawChart } from './chart.js';
import { byId, h, mount, s } from './dom.js';
import { fullTime, num, unit, when } from './format.js';
import { severityBadge, stateBadge } from './feed.js';
import { t } from './i18n.js';
import { may } from './session.js';
import { emit, state, upsert } from './state.js';

const ACTION_LABELS = {
  acknowledge: 'detail.ack', resolve: 'detail.resolve', assign: 'detail.assign', comment: 'detail.comment',
};

let current = null; // {alert, audit, notes, notifications, chart}
let pictureUrl = null;
let reloadTimer = null;
let parts = null; // the panel's sections, built once per opened alert

function section(testid, titleKey, ...body) {
  return h('section', { class: 'd-section', 'data-testid': testid },
    titleKey ? h('h3', {}, t(titleKey)) : null, ...body);
}

function deviceName(a) {
  const device = a.subject.split(':')[0];
  const found = state.devices.find((d) => d.village === a.village && d.id === device);
  return found ? `${found.name} (${a.subject})` : a.subject;
}

function by(time, who) {
  if (!time) return null;
  const at = h('time', { datetime: time, title: fullTime(time) }, when(time));
  return who ? [at, ` · ${who}`] : at;
}

function head(a) {
  return [
    h('div', { class: `d-band sev-${a.severity}` }),
    h('div', { class: 'd-title' },
      severityBadge(a.severity, 'detail-severity'),
      stateBadge(a.state, 'detail-state'),
      h('span', { class: 'd-id' }, `#${a.id}`),
      h('button', {
        type: 'button', class: 'icon close', 'data-testid': 'detail-close',
        title: t('detail.close'), 'aria-label': t('detail.close'), onclick: closeFromButton,
      }, '×')),
    h('h2', { class: 'd-message', 'data-testid': 'detail-message' }, a.message),
  ];
}

function meta(a) {
  const rows = [
    ['detail.place', a.place_name],
    ['detail.subject', deviceName(a)],
    ['detail.kind', `${a.kind} · ${t('detail.detector')} ${a.detector}`],
    ['detail.started', by(a.started)],
    ['detail.fired', by(a.fired)],
    ['detail.acknowledged', by(a.acknowledged, a.acknowledged_by)],
    ['detail.assignee', a.assignee],
    ['detail.resolved', by(a.resolved, a.resolved_by)],
    ['detail.escalation', a.escalation_level > 0 ? a.escalation_level : null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== '');
  const flags = [
    a.historical ? t('detail.historical') : null,
    a.flapping ? t('detail.flapping') : null,
    a.condition_cleared && a.needs_close && a.state !== 'resolved' ? t('detail.cleared') : null,
  ].filter(Boolean);
  return [
    flags.length ? h('p', { class: 'd-flags' }, flags.map((f) => h('span', { class: 'flag' }, f))) : null,
    h('dl', { class: 'd-meta' }, rows.map(([key, value]) => [h('dt', {}, t(key)), h('dd', {}, value)])),
  ];
}

function actions() {
  if (!may('operator')) {
    return h('p', { class: 'readonly muted', 'data-testid': 'readonly-note' }, t('detail.readonly'));
  }
  const note = h('textarea', {
    id: 'd-note', rows: 2, maxlength: 2000, 'data-testid': 'note-input', placeholder: t('detail.note.ph'),
  });
  const assignee = h('input', {
    id: 'd-assignee', type: 'text', maxlength: 64, autocomplete: 'off', 'data-testid': 'assign-input',
    placeholder: t('detail.assign.ph'), 'aria-label': t('detail.assign.ph'),
  });
  const button = (kind, key, testid, extra = '') => h('button', {
    type: 'button', class: `act act-${kind} ${extra}`, 'data-testid': testid, 'data-action': kind,
    onclick: () => act(kind),
  }, t(key));
  return h('form', { class: 'd-actions actions', onsubmit: (ev) => ev.preventDefault() },
    h('label', { for: 'd-note' }, t('detail.note')),
    note,
    h('div', { class: 'act-row' },
      button('acknowledge', 'detail.ack', 'ack-button', 'primary'),
      button('resolve', 'detail.resolve', 'resolve-button'),
      button('comment', 'detail.comment', 'comment-button', 'quiet')),
    h('div', { class: 'act-row' }, assignee, button('assign', 'detail.assign', 'assign-button')),
    h('p', { class: 'act-msg', 'data-testid': 'action-message', role: 'status' }));
}

function syncButtons(a) {
  if (!parts) return;
  const enabled = {
    acknowledge: a.state === 'pending' || a.state === 'firing',
    resolve: a.state !== 'resolved',
    assign: a.state !== 'resolved',
    comment: true,
  };
  for (const btn of parts.actions.querySelectorAll('button[data-action]')) {
    btn.disabled = parts.busy || !enabled[btn.dataset.action];
  }
}

function say(text, kind, panel = parts) {
  const el = panel?.actions.querySelector('.act-msg');
  if (!el) return;
  el.textContent = text;
  el.className = `act-msg ${kind}`;
}

async function act(kind) {
  const a = current?.alert;
  if (!a) return;
  const noteEl = byId('d-note');
  const note = noteEl.value.trim();
  const assignee = byId('d-assignee').value.trim();
  if (kind === 'assign' && !assignee) return say(t('detail.needassignee'), 'error');
  if (kind === 'comment' && !note) return say(t('detail.needtext'), 'error');
  const base = `/api/alerts/${a.id}`;
  const mine = parts; // the panel may move on to another alert while this is on its way
  mine.busy = true;
  syncButtons(a);
  try {
    if (kind === 'comment') {
      await post(`${base}/comment`, { text: note });
    } else {
      const body = kind === 'assign' ? { assignee } : { note };
      const changed = await post(`${base}/${kind}`, body);
      if (kind === 'assign' && note) await post(`${base}/comment`, { text: note });
      alertChanged(changed);
      if (upsert(changed) !== null) emit('alerts');
    }
    if (parts === mine) noteEl.value = '';
    say(t('detail.done', { what: t(ACTION_LABELS[kind]) }), 'ok', mine);
    await load(a.id);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    say(t('detail.refused', { detail: err.detail }), 'error', mine);
  } finally {
    mine.busy = false;
    if (current && parts === mine) syncButtons(current.alert);
  }
}

function notesList(notes) {
  if (notes.length === 0) return h('p', { class: 'muted' }, t('detail.nonotes'));
  return h('ul', { class: 'notes', 'data-testid': 'notes-list' }, notes.map((n) => h('li', {},
    h('div', { class: 'note-meta' }, n.author, ' · ', by(n.at)),
    h('div', { class: 'note-text' }, n.text))));
}

function auditText(e) {
  const label = t(`audit.${e.action}`);
  const words = [label.startsWith('audit.') ? e.action : label];
  if (e.detail.to !== undefined) words.push(`→ ${e.detail.to ?? '—'}`);
  if (e.detail.level !== undefined) words.push(`L${e.detail.level}`);
  if (e.detail.from && e.action === 'severity_changed') {
    words.push(`${t(`sev.${e.detail.from}`)} → ${t(`sev.${e.severity}`)}`);
  }
  if (typeof e.detail.note === 'string' && e.detail.note) words.push(`“${e.detail.note}”`);
  return words.join(' ');
}

function auditList(audit) {
  return h('ol', { class: 'audit', 'data-testid': 'audit-list' }, [...audit].reverse().map((e) => h('li', {},
    h('time', { datetime: e.at, title: fullTime(e.at) }, when(e.at)),
    h('span', { class: 'who' }, e.actor === 'system' ? t('audit.system') : e.actor),
    h('span', { class: 'what' }, auditText(e)),
    stateBadge(e.state))));
}

function notifications(list) {
  if (list.length === 0) return null;
  return section('notifications', 'detail.notifications', h('ul', { class: 'notify' }, list.map((n) => h('li', {},
    h('span', {}, `${n.channel ?? '?'} · ${n.place ?? ''}`),
    h('span', { class: `nstate n-${n.state}` }, `${n.state ?? ''}${n.attempts ? ` ×${n.attempts}` : ''}`),
    n.error ? h('span', { class: 'error' }, n.error) : null))));
}

// --- the evidence picture, the chart and the place (charts18) ----------------------------

function overlay(pic) {
  const zone = pic.zone
    ? s('g', { class: `ev-zone z-${pic.zone.kind}`, 'data-testid': 'evidence-zone', 'data-zone': pic.zone.id },
      s('polygon', { points: pic.zone.polygon.map(([x, y]) => `${x},${y}`).join(' ') }))
    : null;
  const box = pic.box
    ? s('rect', { class: 'ev-box', 'data-testid': 'evidence-box', x: pic.box[0], y: pic.box[1],
      width: pic.box[2], height: pic.box[3] })
    : null;
  return s('svg', { class: 'ev-overlay', viewBox: '0 0 1 1', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    zone, box);
}

function pictureCaption(pic) {
  const what = pic.detection ? t(`detection.${pic.detection}`) : null;
  return h('figcaption', { class: 'ev-caption', 'data-testid': 'evidence-caption' },
    h('time', { datetime: pic.taken, 'data-testid': 'evidence-time' }, t('detail.evidence.taken', { at: fullTime(pic.taken) })),
    what && !what.startsWith('detection.') ? ` · ${what}` : null,
    pic.zone ? ` · ${t('detail.evidence.zone', { zone: pic.zone.id })}` : null,
    pic.box ? h('span', { class: 'ev-key' }, h('i', { class: 'ev-key-box' }), t('detail.evidence.box')) : null,
    pic.zone ? h('span', { class: 'ev-key' }, h('i', { class: 'ev-key-zone' }), t('detail.evidence.zonekey')) : null);
}

async function loadPicture(a, box) {
  if (pictureUrl) URL.revokeObjectURL(pictureUrl);
  pictureUrl = null;
  mount(box, h('p', { class: 'muted' }, t('detail.evidence.loading')));
  try {
    const pic = await api(`/api/alerts/${a.id}/picture`);
    pictureUrl = URL.createObjectURL(await blob(pic.url));
    if (current?.alert.id !== a.id) return;
    mount(box, h('figure', { class: 'ev-figure', 'data-testid': 'evidence-figure' },
      h('a', { class: 'ev-frame', href: pictureUrl, target: '_blank', rel: 'noopener' },
        h('img', { class: 'evidence', src: pictureUrl, alt: t('detail.evidence'), 'data-testid': 'evidence-img' }),
        overlay(pic)),
      pictureCaption(pic)));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    mount(box, h('p', { class: 'muted', 'data-testid': 'evidence-missing', title: err.detail },
      t('detail.noevidence')));
  }
}

function levelLines(levels, u) {
  return levels.map((l) => ({
    value: l.value, kind: l.severity ?? 'range', dashed: l.severity === null,
    label: `${t(`level.${l.name}`)} ${num(l.value)}${u ? ` ${u}` : ''}`,
  }));
}

async function loadChart(a, section, box) {
  mount(box, h('p', { class: 'muted' }, t('detail.loading')));
  let data;
  try {
    data = await api(`/api/alerts/${a.id}/chart`);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (current?.alert.id === a.id) mount(box, h('p', { class: 'muted error' }, err.detail));
    return;
  }
  if (current?.alert.id !== a.id) return;
  if (data.buckets.length === 0) {
    // a context series (a camera's gauge) with nothing to show: no empty box
    if (!data.own) section.hidden = true;
    else mount(box, h('p', { class: 'muted', 'data-testid': 'chart-empty' }, t('detail.nodata')));
    return;
  }
  const name = t(`metric.${data.metric}`);
  const u = unit(data.metric);
  const series = `${name.startsWith('metric.') ? data.metric : name}${u ? ` (${u})` : ''}`;
  const started = Date.parse(data.started);
  const marks = [{ at: started, kind: 'start', label: t('detail.alertstart'), short: t('detail.alertstart') }];
  if (data.ended) marks.push({ at: Date.parse(data.ended), kind: 'end', label: t('detail.chart.cleared'), short: t('detail.chart.cleared') });
  const points = [];
  if (data.fired) points.push({ at: Date.parse(data.fired.at), value: data.fired.value, kind: 'fired', label: t('detail.chart.fired') });
  if (data.current) points.push({ at: Date.parse(data.current.at), value: data.current.value, kind: 'now', label: t('detail.chart.now') });
  const since = Date.parse(data.since);
  const until = Date.parse(data.until);
  mount(box,
    h('p', { class: 'chart-caption muted' }, `${data.device} · ${series} · ${t('detail.chart.span', {
      from: fullTime(data.since), to: data.ended ? fullTime(data.until) : t('detail.chart.tonow') })}`),
    data.current ? h('p', { class: 'chart-now', 'data-testid': 'chart-now' },
      t('detail.chart.nowis', { value: `${num(data.current.value)}${u ? ` ${u}` : ''}`, at: when(data.current.at) })) : null,
    drawChart(data.buckets, { since, until, slices: data.slices, name: series,
      lines: levelLines(data.levels, u), marks, points, label: `${t('detail.chart')}: ${series}` }),
    h('p', { class: 'chart-hint muted' }, t('detail.chart.zoom')));
}

function placeCard(a) {
  const device = a.subject.split(':')[0];
  const found = state.devices.find((d) => d.village === a.village && d.id === device);
  const others = found?.position ? state.devices.filter((d) => d.village === a.village && d.position && d !== found) : [];
  return h('div', { class: 'd-place', 'data-testid': 'detail-place' },
    h('p', { class: 'd-place-name' }, a.place_name, found ? ` · ${found.name || found.id}` : ''),
    found?.position
      ? h('div', { class: 'mini-plan', 'aria-hidden': 'true' },
        others.map((d) => h('i', { class: 'mini-dot', style: { left: `${d.position.x * 100}%`, top: `${d.position.y * 100}%` } })),
        h('i', { class: `mini-dot here sev-${a.severity}`, 'data-testid': 'detail-place-dot',
          style: { left: `${found.position.x * 100}%`, top: `${found.position.y * 100}%` } }))
      : null);
}

function render() {
  const { alert: a, audit, notes } = current;
  mount(parts.head, head(a));
  mount(parts.meta, meta(a));
  mount(parts.notes, section('notes', 'detail.notes', notesList(notes)));
  mount(parts.audit, section('audit', 'detail.audit', auditList(audit)), notifications(current.notifications));
  syncButtons(a);
}

async function load(id) {
  let data;
  try {
    data = await api(`/api/alerts/${id}`);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (state.selected !== id) return;
    current = null;
    mount(byId('detail-body'), h('div', { class: 'd-title' },
      h('p', { class: 'error' }, err.status === 404 ? t('detail.notfound', { id }) : err.detail),
      h('button', {
        type: 'button', class: 'icon close', 'data-testid': 'detail-close', onclick: closeFromButton,
      }, '×')));
    return;
  }
  if (state.selected !== id) return;
  const first = current?.alert.id !== id;
  current = data;
  if (upsert(data.alert) !== null) emit('alerts');
  if (first) {
    parts = {
      head: h('header', { class: 'd-head' }),
      meta: h('div', {}),
      actions: actions(),
      evidence: h('div', { class: 'd-evidence' }),
      chart: h('div', { class: 'd-chart' }),
      notes: h('div', {}),
      audit: h('div', {}),
      busy: false,
    };
    const a = data.alert;
    const chartSection = data.chart ? section('chart-section', 'detail.chart', parts.chart) : null;
    mount(byId('detail-body'),
      parts.head, parts.meta, parts.actions,
      a.evidence ? section('evidence', 'detail.evidence', parts.evidence) : null,
      chartSection,
      !data.chart || a.evidence ? section('place-section', 'detail.where', placeCard(a)) : null,
      parts.notes, parts.audit);
    if (a.evidence) loadPicture(a, parts.evidence);
    if (chartSection) loadChart(a, chartSection, parts.chart);
  }
  render();
}

/** Open the panel on alert `id`. */
export function openDetail(id) {
  const panel = byId('detail');
  if (state.selected === id && !panel.hidden) return;
  state.selected = id;
  current = null;
  parts = null;
  panel.hidden = false;
  document.body.classList.add('detail-open');
  mount(byId('detail-body'), h('p', { class: 'muted pad' }, t('detail.loading')));
  emit('alerts');
  load(id);
}

/** Close the panel. */
export function closeDetail() {
  state.selected = null;
  current = null;
  parts = null;
  if (pictureUrl) URL.revokeObjectURL(pictureUrl);
  pictureUrl = null;
  byId('detail').hidden = true;
  document.body.classList.remove('detail-open');
  emit('alerts');
}

function closeFromButton() {
  history.replaceState(null, '', location.pathname + location.search);
  closeDetail();
}

/** An alert changed (from the stream or an action): update the panel if it shows that one. */
export function alertChanged(a) {
  if (!current || current.alert.id !== a.id) return;
  if (new Date(a.updated) < new Date(current.alert.updated)) return;
  current = { ...current, alert: a };
  render();
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => { if (state.selected === a.id) load(a.id); }, 400);
}

/** Redraw in the current language (the chart too). */
export function redrawDetail() {
  if (!current) return;
  const id = current.alert.id;
  current = null;
  parts = null;
  load(id);
}
