// The monthly assessment (views18): a month's alerts of the user's places by kind, place and
// day, how fast they were acknowledged and resolved, escalations and resolution reasons, in
// the deployment's time zone (named on the page); a month picker, the CSV download and a page
// that prints on A4 (console.css hides the navigation when printing).

import { ApiError, api, blob, query } from './api.js';
import { byId, h, mount } from './dom.js';
import { num } from './format.js';
import { locale, t } from './i18n.js';
import { base, categoryAxis, drawChart, dropCharts, valueAxis } from './reportcharts.js';
import { on, state } from './state.js';

let report = null; // the last GET /api/reports/month answer
let month = null; // 'YYYY-MM' asked for; null: this month (the server's choice)
let asking = 0; // the newest request's number: older answers arriving late are dropped
let problem = '';

// --- words ----------------------------------------------------------------------------------

function known(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

/** A place's configured name (东村 · 1 组), else its id without the prefix. */
function placeName(id) {
  const found = state.places.find((p) => p.id === id);
  return found?.name || id.replace(/^(town|village|grid):/, '');
}

// the alert kinds' names come with i18n18's 'akind.*' keys; the id until they are there
const kindName = (kind) => known(`akind.${String(kind).split(':')[0]}`, kind);
const reasonName = (reason) => known(`reason.${reason}`, reason);

function duration(s) {
  if (s === null || s === undefined) return '—';
  if (s < 5400) return t('assess.dur.m', { n: num(s / 60, s < 600 ? 1 : 0) });
  if (s < 172800) return t('assess.dur.h', { n: num(s / 3600, 1) });
  return t('assess.dur.d', { n: num(s / 86400, 1) });
}

/** "+08:00" of `zone` at `when`. */
function offset(zone, when = new Date()) {
  const part = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(when).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  return part === 'GMT' ? '+00:00' : part.replace('GMT', '');
}

function nowIn(zone) {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date());
}

function shifted(ym, by) {
  const [y, m] = ym.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 1 + by, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

function days(ym) {
  const [y, m] = ym.split('-').map(Number);
  const n = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return Array.from({ length: n }, (_, i) => `${ym}-${String(i + 1).padStart(2, '0')}`);
}

// --- loading ------------------------------------------------------------------------------

async function load() {
  const mine = ++asking;
  problem = '';
  try {
    const answer = await api(`/api/reports/month${query({ month })}`);
    if (mine !== asking) return;
    report = answer;
    month = answer.month;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (mine !== asking) return;
    problem = t('assess.failed', { detail: err.detail });
  }
  draw();
}

function choose(ym) {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(ym) || ym === month) return;
  month = ym;
  load();
}

async function downloadCsv(ev) {
  ev.preventDefault();
  const path = ev.currentTarget.getAttribute('href');
  try {
    // a fetch with the session's token (a plain link would carry none), saved under its name
    const file = await blob(path, 'text/csv');
    const url = URL.createObjectURL(file);
    const a = h('a', { href: url, download: `villagewatch-${month}.csv`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    problem = t('assess.csv.failed', { detail: err.detail });
    draw();
  }
}

// --- drawing ------------------------------------------------------------------------------

function sum(rows, field) {
  return rows.reduce((n, r) => n + r[field], 0);
}

function grouped(rows, by) {
  const out = new Map();
  for (const r of rows) {
    const g = out.get(r[by]) ?? { alerts: 0, escalated: 0 };
    g.alerts += r.alerts;
    g.escalated += r.escalated;
    out.set(r[by], g);
  }
  return [...out].sort((a, b) => a[1].alerts - b[1].alerts); // the largest on top of the bars
}

function reasonsOf(rows) {
  const out = {};
  for (const r of rows) for (const [k, n] of Object.entries(r.reasons ?? {})) out[k] = (out[k] ?? 0) + n;
  return out;
}

function barsOption(groups, name) {
  return (c) => ({
    ...base(c),
    grid: { ...base(c).grid, right: 34 }, // room for the count beside the longest bar
    xAxis: valueAxis(c),
    yAxis: categoryAxis(c, groups.map(([k]) => name(k)), {
      axisLabel: { color: c.text, width: 120, overflow: 'truncate' },
    }),
    series: [
      { type: 'bar', name: t('assess.series.alerts'), data: groups.map(([, g]) => g.alerts), label: { show: true, position: 'right', color: c.text } },
      { type: 'bar', name: t('assess.series.escalated'), data: groups.map(([, g]) => g.escalated) },
    ],
  });
}

function dayOption(r) {
  const list = days(r.month);
  const counts = list.map((d) => Object.values(r.per_day[d] ?? {}).reduce((a, b) => a + b, 0));
  return (c) => ({
    ...base(c),
    legend: { show: false },
    xAxis: categoryAxis(c, list.map((d) => d.slice(8))),
    yAxis: valueAxis(c),
    series: [{ type: 'bar', name: t('assess.series.alerts'), data: counts }],
  });
}

function timesOption(rows) {
  const timed = rows.filter((r) => r.ack_median_s !== null || r.resolve_median_s !== null);
  const minutes = (s) => (s === null ? null : Math.round(s / 6) / 10);
  return (c) => ({
    ...base(c),
    xAxis: valueAxis(c, { minInterval: 0, name: t('assess.minutes'), nameTextStyle: { color: c.muted } }),
    yAxis: categoryAxis(c, timed.map((r) => `${kindName(r.kind)} · ${placeName(r.place)}`), {
      axisLabel: { color: c.text, width: 150, overflow: 'truncate' },
    }),
    series: [
      { type: 'bar', name: t('assess.series.ack'), data: timed.map((r) => minutes(r.ack_median_s)) },
      { type: 'bar', name: t('assess.series.resolve'), data: timed.map((r) => minutes(r.resolve_median_s)) },
    ],
  });
}

function reasonsOption(reasons) {
  return (c) => ({
    ...base(c),
    tooltip: { trigger: 'item', renderMode: 'richText' },
    legend: { show: false },
    series: [{
      type: 'pie', radius: ['35%', '65%'],
      label: { color: c.text, formatter: '{b}: {c}' },
      data: Object.entries(reasons).map(([k, n]) => ({ name: reasonName(k), value: n })),
    }],
  });
}

function chartBox(testid, titleKey, build, rows = 0) {
  const el = h('div', { class: 'assess-canvas', 'data-testid': `${testid}-canvas` });
  // horizontal bars get taller with their number of rows, so labels never overlap
  if (rows > 6) el.style.height = `${Math.min(900, 60 + rows * 26)}px`;
  queueMicrotask(() => { if (el.isConnected) drawChart(el, build); });
  return h('figure', { class: 'assess-chart', 'data-testid': testid },
    h('figcaption', {}, t(titleKey)), el);
}

function tile(key, value, testid) {
  return h('div', { class: 'assess-tile', 'data-testid': testid },
    h('span', { class: 'assess-tile-n' }, num(value, 0)), h('span', { class: 'muted' }, t(key)));
}

function table(rows, withReasons) {
  const cols = ['place', 'kind', 'alerts', 'acknowledged', 'resolved', 'escalated', 'ack', 'resolve',
    ...(withReasons ? ['reasons'] : [])];
  const cell = (col, text, cls) => h('td', { 'data-label': t(`assess.col.${col}`), class: cls }, text);
  return h('table', { class: 'assess-table', 'data-testid': 'assess-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, t(`assess.col.${c}`))))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-testid': 'assess-row', 'data-place': r.place, 'data-kind': r.kind },
      cell('place', placeName(r.place)),
      cell('kind', kindName(r.kind)),
      ['alerts', 'acknowledged', 'resolved', 'escalated'].map((k) => cell(k, num(r[k], 0), 'num')),
      cell('ack', `${duration(r.ack_median_s)} / ${duration(r.ack_p90_s)}`, 'num'),
      cell('resolve', `${duration(r.resolve_median_s)} / ${duration(r.resolve_p90_s)}`, 'num'),
      withReasons ? cell('reasons', Object.entries(r.reasons ?? {})
        .map(([k, n]) => `${reasonName(k)} ${n}`).join(' · ')) : null))));
}

function toolbar() {
  const picker = h('input', {
    type: 'month', value: month ?? '', 'data-testid': 'assess-month', 'aria-label': t('assess.month'),
    onchange: (ev) => choose(ev.target.value),
  });
  const csv = `/api/reports/month.csv${query({ month })}`;
  return h('div', { class: 'assess-tools' },
    h('button', { type: 'button', class: 'small', 'data-testid': 'assess-prev', 'aria-label': t('assess.prev'),
      title: t('assess.prev'), disabled: !month, onclick: () => choose(shifted(month, -1)) }, '‹'),
    h('label', { class: 'assess-picker' }, h('span', { class: 'muted' }, t('assess.month')), picker),
    h('button', { type: 'button', class: 'small', 'data-testid': 'assess-next', 'aria-label': t('assess.next'),
      title: t('assess.next'), disabled: !month, onclick: () => choose(shifted(month, 1)) }, '›'),
    h('span', { class: 'spacer' }),
    h('a', { class: 'button small', href: csv, download: '', 'data-testid': 'assess-csv',
      title: t('assess.csv.title'), onclick: downloadCsv }, t('assess.csv')),
    h('button', { type: 'button', class: 'small', 'data-testid': 'assess-print', title: t('assess.print.title'),
      onclick: () => window.print() }, t('assess.print')));
}

function draw() {
  const root = byId('assessment-body');
  if (byId('assessment').hidden) return;
  const parts = [toolbar()];
  if (problem) parts.push(h('p', { class: 'error', role: 'alert', 'data-testid': 'assess-error' }, problem));
  if (!report) {
    if (!problem) parts.push(h('p', { class: 'muted' }, t('assess.loading')));
    mount(root, parts);
    return;
  }
  const r = report;
  const reasons = reasonsOf(r.rows);
  const withReasons = Object.keys(reasons).length > 0;
  parts.push(
    h('header', { class: 'assess-head' },
      h('h3', { 'data-testid': 'assess-heading' }, t('assess.heading', { month: r.month })),
      h('p', { class: 'muted', 'data-testid': 'assess-zone', 'data-zone': r.zone },
        t('assess.zone', { zone: r.zone, offset: offset(r.zone) }), ' · ',
        t('assess.made', { time: nowIn(r.zone) }))),
    h('div', { class: 'assess-tiles' },
      tile('assess.tile.alerts', sum(r.rows, 'alerts'), 'assess-total-alerts'),
      tile('assess.tile.acknowledged', sum(r.rows, 'acknowledged'), 'assess-total-acknowledged'),
      tile('assess.tile.resolved', sum(r.rows, 'resolved'), 'assess-total-resolved'),
      tile('assess.tile.escalated', sum(r.rows, 'escalated'), 'assess-total-escalated')),
  );
  if (!r.rows.length) {
    parts.push(h('p', { class: 'muted', 'data-testid': 'assess-empty' }, t('assess.empty', { month: r.month })));
  } else {
    const kinds = grouped(r.rows, 'kind');
    const places = grouped(r.rows, 'place');
    parts.push(
      h('div', { class: 'assess-charts' },
        chartBox('assess-by-kind', 'assess.chart.kind', barsOption(kinds, kindName), kinds.length),
        chartBox('assess-by-place', 'assess.chart.place', barsOption(places, placeName), places.length),
        chartBox('assess-per-day', 'assess.chart.day', dayOption(r)),
        chartBox('assess-times', 'assess.chart.times', timesOption(r.rows), r.rows.length),
        withReasons ? chartBox('assess-reasons', 'assess.chart.reasons', reasonsOption(reasons)) : null),
      h('h3', {}, t('assess.table')),
      table(r.rows, withReasons),
    );
  }
  mount(root, parts);
  dropCharts(); // the ones just taken off the page
}

// --- the view's life ------------------------------------------------------------------------

// the places' names arrive after the first drawing, maybe: draw again when they do
let namedBy = 0;
on('devices', () => {
  if (state.places.length === namedBy) return;
  namedBy = state.places.length;
  draw();
});

/** Show the view: the month asked for last (this month at first), fresh from the server. */
export function openAssessment() {
  draw();
  load();
}

/** Redraw in the current language. */
export function renderAssessment() {
  draw();
}

/** Forget everything (logout). */
export function resetAssessment() {
  report = null;
  month = null;
  problem = '';
  asking += 1;
  dropCharts(true);
  byId('assessment-body').replaceChildren();
}
