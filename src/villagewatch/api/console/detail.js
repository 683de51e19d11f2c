// One alert in full, in a side panel: message, severity, state, place, times, the evidence
// picture, the sensor chart, notes and history, and the actions (operators and above).

import { ApiError, api, post } from './api.js';
import { forgetPicture, loadChart, loadPicture, placeCard } from './alertviews.js';
import { byId, h, mount } from './dom.js';
import { fullTime, when } from './format.js';
import { severityBadge, stateBadge } from './feed.js';
import { t } from './i18n.js';
import { alertText, detectorName, kindName, placeLabel, subjectName } from './messages.js';
import { may } from './session.js';
import { emit, state, upsert } from './state.js';

// the reasons the API takes (ResolutionReason), in the order a person meets them
const REASONS = ['handled_on_site', 'false_alarm', 'duplicate', 'device_fault', 'test', 'other'];

let current = null; // {alert, audit, notes, notifications, chart}
let reloadTimer = null;
let parts = null; // the panel's sections, built once per opened alert

function section(testid, titleKey, ...body) {
  return h('section', { class: 'd-section', 'data-testid': testid },
    titleKey ? h('h3', {}, t(titleKey)) : null, ...body);
}

function deviceName(a) {
  const device = a.subject.split(':')[0];
  const found = state.devices.find((d) => d.village === a.village && d.id === device);
  return found ? `${found.name} (${a.subject})` : subjectName(a);
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
    h('h2', { class: 'd-message', 'data-testid': 'detail-message' }, alertText(a)),
  ];
}

/** The nearest team at or above the alert's place (from /api/places), with phones to call. */
function team(a) {
  const places = new Map(state.places.map((p) => [p.id, p]));
  for (let p = places.get(a.place), hops = 0; p && hops < 20; p = places.get(p.parent), hops += 1) {
    if (!p.members?.length) continue;
    const people = [...p.members].sort((x, y) => (x.role === 'leader' ? 0 : 1) - (y.role === 'leader' ? 0 : 1));
    return h('span', { 'data-testid': 'detail-team' },
      h('span', { class: 'muted' }, p.name), ' · ',
      people.map((m, i) => [i ? ' · ' : '', `${m.name} (${t(`team.${m.role}`)})`,
        m.phone ? [' ', h('a', { href: `tel:${m.phone.replace(/[^0-9+]/g, '')}` }, m.phone)] : '']));
  }
  return null;
}

function meta(a) {
  const rows = [
    ['detail.place', a.place_name],
    ['detail.subject', deviceName(a)],
    ['detail.kind', `${kindName(a.kind)} · ${t('detail.detector')} ${detectorName(a.detector)}`],
    ['detail.started', by(a.started)],
    ['detail.fired', by(a.fired)],
    ['detail.acknowledged', by(a.acknowledged, a.acknowledged_by)],
    ['detail.assignee', a.assignee],
    ['detail.resolved', by(a.resolved, a.resolved_by)],
    ['detail.resolution', a.resolution ? t(`reason.${a.resolution}`) : null],
    ['detail.escalation', a.escalation_level > 0 ? a.escalation_level : null],
    ['detail.team', team(a)],
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
  const reason = h('select', {
    id: 'd-reason', 'data-testid': 'resolve-reason', onchange: () => { if (current) syncButtons(current.alert); },
  },
    h('option', { value: '' }, t('detail.reason.choose')),
    REASONS.map((r) => h('option', { value: r }, t(`reason.${r}`))));
  const button = (kind, key, testid, extra = '') => h('button', {
    type: 'button', class: `act act-${kind} ${extra}`, 'data-testid': testid, 'data-action': kind,
    onclick: () => act(kind),
  }, t(key));
  return h('form', { class: 'd-actions actions', onsubmit: (ev) => ev.preventDefault() },
    h('label', { for: 'd-note', id: 'd-note-label', 'data-testid': 'note-label' }, t('detail.note')),
    note,
    h('div', { class: 'act-row' },
      button('acknowledge', 'detail.ack', 'ack-button', 'primary'),
      button('comment', 'detail.comment', 'comment-button', 'quiet')),
    h('div', { class: 'act-row resolve-row' },
      h('label', { for: 'd-reason', class: 'sr-label' }, t('detail.reason')),
      reason,
      button('resolve', 'detail.resolve', 'resolve-button')),
    h('div', { class: 'act-row' }, assignee, button('assign', 'detail.assign', 'assign-button')),
    h('p', { class: 'act-msg', 'data-testid': 'action-message', role: 'status' }));
}

/** Whether closing `a` for `reason` needs a note (the API's rule, checked there too). */
function noteNeeded(a, reason) {
  return a.severity === 'red' || a.needs_close || reason === 'other';
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
    const why = a.state === 'resolved' || (a.state === 'acknowledged' && btn.dataset.action === 'acknowledge');
    btn.title = btn.disabled && !parts.busy && why ? t(`detail.why.${a.state}`) : '';
  }
  const reason = parts.actions.querySelector('#d-reason');
  if (reason) {
    reason.disabled = parts.busy || !enabled.resolve;
    const label = parts.actions.querySelector('#d-note-label');
    label.textContent = t(noteNeeded(a, reason.value) && enabled.resolve ? 'detail.note.needed' : 'detail.note');
  }
}

function say(text, kind, panel = parts) {
  const el = panel?.actions.querySelector('.act-msg');
  if (!el) return;
  el.textContent = text;
  el.className = `act-msg ${kind}`;
}

/** Ask before closing a red alert: a modal the operator must answer; true to go on. */
function confirmRed(a, reason) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'data-testid': 'confirm-dialog', 'aria-labelledby': 'confirm-title' },
      h('h3', { id: 'confirm-title' }, t('detail.confirm.title', { id: a.id })),
      h('p', {}, a.message),
      h('p', { class: 'muted' }, t('detail.confirm.body', { reason: t(`reason.${reason}`) })),
      h('div', { class: 'act-row' },
        h('button', { type: 'button', class: 'danger armed', 'data-testid': 'confirm-yes', onclick: () => done(true) },
          t('detail.confirm.yes')),
        h('button', { type: 'button', 'data-testid': 'confirm-no', onclick: () => done(false) }, t('detail.confirm.no'))));
    function done(ok) {
      dialog.close();
      dialog.remove();
      resolve(ok);
    }
    dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); done(false); }); // Esc: no
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('[data-testid="confirm-no"]').focus(); // Enter on a reflex does not close it
  });
}

async function act(kind) {
  const a = current?.alert;
  if (!a) return;
  const noteEl = byId('d-note');
  const note = noteEl.value.trim();
  const assignee = byId('d-assignee').value.trim();
  const reasonEl = byId('d-reason');
  const reason = reasonEl.value;
  if (kind === 'assign' && !assignee) return say(t('detail.needassignee'), 'error');
  if (kind === 'comment' && !note) return say(t('detail.needtext'), 'error');
  if (kind === 'resolve') {
    if (!reason) {
      reasonEl.focus();
      return say(t('detail.needreason'), 'error');
    }
    if (!note && noteNeeded(a, reason)) {
      noteEl.focus();
      return say(t(a.severity === 'red' ? 'detail.neednote.red' : a.needs_close ? 'detail.neednote.hand' : 'detail.neednote.other'), 'error');
    }
    if (a.severity === 'red' && !(await confirmRed(a, reason))) return say(t('detail.confirm.kept'), 'busy');
  }
  const base = `/api/alerts/${a.id}`;
  const mine = parts; // the panel may move on to another alert while this is on its way
  mine.busy = true;
  syncButtons(a);
  try {
    if (kind === 'comment') {
      await post(`${base}/comment`, { text: note });
    } else {
      const body = kind === 'assign' ? { assignee } : kind === 'resolve' ? { note, reason } : { note };
      const changed = await post(`${base}/${kind}`, body);
      if (kind === 'assign' && note) await post(`${base}/comment`, { text: note });
      alertChanged(changed);
      if (upsert(changed) !== null) emit('alerts');
    }
    if (parts === mine) {
      noteEl.value = '';
      if (kind === 'resolve') reasonEl.value = '';
    }
    say(t(`detail.did.${kind}`, { who: assignee, reason: t(`reason.${reason}`) }), 'ok', mine);
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
  if (typeof e.detail.reason === 'string') words.push(`· ${t(`reason.${e.detail.reason}`)}`);
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
    h('span', {}, `${n.channel ?? '?'} · ${placeLabel(n.place ?? '')}`),
    h('span', { class: `nstate n-${n.state}` }, `${n.state ?? ''}${n.attempts ? ` ×${n.attempts}` : ''}`),
    n.error ? h('span', { class: 'error' }, n.error) : null))));
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
    const shown = () => current?.alert.id === a.id; // the panel may have moved on meanwhile
    if (a.evidence) loadPicture(a, parts.evidence, shown);
    if (chartSection) loadChart(a, chartSection, parts.chart, shown);
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
  forgetPicture();
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
