// Rejected messages, the dead letters (views18, operators and maintainers): counts by reason in
// words a user knows, each device's latest examples, and every letter newest first, a page at a
// time. A payload is whatever a device (or anyone on the broker) sent: it is only ever put on
// the page as text (h(..., text) sets textContent), never as markup.

import { ApiError, api, query } from './api.js';
import { byId, h, mount } from './dom.js';
import { fullTime, num } from './format.js';
import { t } from './i18n.js';
import { base, categoryAxis, drawChart, dropCharts, valueAxis } from './reportcharts.js';

const PAGE = 20;

let summary = null; // GET /api/dead-letters/summary
let pages = null; // {letters: [...], next: before-cursor | null} of the full list
let problem = '';
let busy = false;
let asking = 0;

function known(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

const reasonName = (reason) => known(`dl.reason.${reason}`, reason);
const reasonWhy = (reason) => known(`dl.why.${reason}`, '');

function failed(err) {
  if (!(err instanceof ApiError)) throw err;
  problem = t('dl.failed', { detail: err.detail });
}

async function load() {
  const mine = ++asking;
  problem = '';
  busy = true;
  draw();
  try {
    const [s, first] = await Promise.all([
      api('/api/dead-letters/summary'),
      api(`/api/dead-letters${query({ limit: PAGE })}`),
    ]);
    if (mine !== asking) return;
    summary = s;
    pages = { letters: first.letters, next: first.next_before };
  } catch (err) {
    if (mine === asking) failed(err);
  } finally {
    if (mine === asking) busy = false;
  }
  if (mine === asking) draw();
}

async function older() {
  if (!pages?.next || busy) return;
  const mine = asking;
  busy = true;
  draw();
  try {
    const more = await api(`/api/dead-letters${query({ limit: PAGE, before: pages.next })}`);
    if (mine !== asking) return;
    pages = { letters: [...pages.letters, ...more.letters], next: more.next_before };
  } catch (err) {
    if (mine === asking) failed(err);
  } finally {
    if (mine === asking) busy = false;
  }
  if (mine === asking) draw();
}

// --- drawing ------------------------------------------------------------------------------

function reasonsChart(reasons) {
  const list = Object.entries(reasons).reverse(); // the most frequent on top of the bars
  const el = h('div', { class: 'assess-canvas dl-canvas', 'data-testid': 'dl-reasons-chart' });
  el.style.height = `${Math.max(120, 50 + list.length * 30)}px`;
  queueMicrotask(() => {
    if (!el.isConnected) return;
    drawChart(el, (c) => ({
      ...base(c),
      grid: { ...base(c).grid, right: 34 }, // room for the count beside the longest bar
      legend: { show: false },
      xAxis: valueAxis(c),
      yAxis: categoryAxis(c, list.map(([r]) => reasonName(r)), {
        axisLabel: { color: c.text, width: 130, overflow: 'truncate' },
      }),
      series: [{ type: 'bar', data: list.map(([, n]) => n), label: { show: true, position: 'right', color: c.text } }],
    }));
  });
  return el;
}

function reasonsTable(reasons) {
  return h('table', { class: 'dl-reasons', 'data-testid': 'dl-reasons' },
    h('thead', {}, h('tr', {}, ['reason', 'means', 'count'].map((k) => h('th', { scope: 'col' }, t(`dl.col.${k}`))))),
    h('tbody', {}, Object.entries(reasons).map(([r, n]) => h('tr', { 'data-testid': 'dl-reason', 'data-reason': r },
      h('td', { class: 'dl-reason-name' }, reasonName(r)),
      h('td', { class: 'muted' }, reasonWhy(r)),
      h('td', { class: 'num', 'data-testid': 'dl-reason-count' }, num(n, 0))))));
}

/** One letter: when, why in words, the topic and detail, and the payload as text. */
function letter(d) {
  return h('li', { class: 'dl-letter', 'data-testid': 'dl-letter', 'data-reason': d.reason },
    h('div', { class: 'dl-letter-head' },
      h('time', { datetime: d.received }, fullTime(d.received)),
      h('span', { class: 'dl-chip', title: reasonWhy(d.reason) }, reasonName(d.reason))),
    h('div', { class: 'dl-field' }, h('span', { class: 'muted' }, `${t('dl.topic')}: `),
      h('code', { 'data-testid': 'dl-topic' }, d.topic)),
    d.detail ? h('div', { class: 'dl-field' }, h('span', { class: 'muted' }, `${t('dl.detail')}: `),
      h('span', { 'data-testid': 'dl-detail' }, d.detail)) : null,
    h('div', { class: 'muted dl-field' }, t('dl.payload', { n: num(d.payload_bytes, 0) }),
      d.binary ? ` · ${t('dl.binary')}` : ''),
    h('pre', { class: 'dl-payload', 'data-testid': 'dl-payload' }, d.payload));
}

function device(g) {
  const name = g.device ? `${g.village} / ${g.device}` : t('dl.device.none');
  return h('section', { class: 'dl-device', 'data-testid': 'dl-device', 'data-device': g.device ?? '' },
    h('header', { class: 'dl-device-head' },
      h('h4', {}, name),
      h('span', { class: 'muted', 'data-testid': 'dl-device-count' }, t('dl.device.count', { n: num(g.count, 0) })),
      h('span', { class: 'dl-chips' }, Object.entries(g.reasons).map(([r, n]) =>
        h('span', { class: 'dl-chip', title: reasonWhy(r) }, `${reasonName(r)} ${n}`)))),
    h('ul', { class: 'dl-letters' }, g.latest.map(letter)));
}

function draw() {
  const root = byId('deadletters-body');
  if (byId('deadletters').hidden) return;
  const parts = [
    h('p', { class: 'muted' }, t('dl.intro')),
    h('div', { class: 'assess-tools' },
      summary ? h('span', { 'data-testid': 'dl-scanned' }, t('dl.scanned', { n: num(summary.scanned, 0) }),
        summary.oldest ? ` · ${t('dl.since', { time: fullTime(summary.oldest) })}` : '',
        summary.complete ? '' : ` ${t('dl.partial')}`) : null,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'small', 'data-testid': 'dl-refresh', disabled: busy, onclick: load },
        t('dl.refresh'))),
  ];
  if (problem) parts.push(h('p', { class: 'error', role: 'alert', 'data-testid': 'dl-error' }, problem));
  if (!summary) {
    if (!problem) parts.push(h('p', { class: 'muted' }, t('dl.loading')));
  } else if (!summary.scanned) {
    parts.push(h('p', { class: 'muted', 'data-testid': 'dl-none' }, t('dl.none')));
  } else {
    parts.push(
      h('h3', {}, t('dl.reasons')),
      h('div', { class: 'dl-by-reason' }, reasonsChart(summary.reasons), reasonsTable(summary.reasons)),
      h('h3', {}, t('dl.devices')),
      h('div', { class: 'dl-devices' }, summary.devices.map(device)),
      h('h3', {}, t('dl.all')),
      h('ul', { class: 'dl-letters', 'data-testid': 'dl-all' }, (pages?.letters ?? []).map(letter)),
      pages?.next
        ? h('button', { type: 'button', class: 'small', 'data-testid': 'dl-more', disabled: busy, onclick: older }, t('dl.more'))
        : h('p', { class: 'muted', 'data-testid': 'dl-end' }, t('dl.end')),
    );
  }
  mount(root, parts);
  dropCharts();
}

// --- the view's life ------------------------------------------------------------------------

/** Show the view, fresh from the server. */
export function openDeadLetters() {
  load();
}

/** Redraw in the current language. */
export function renderDeadLetters() {
  draw();
}

/** Forget everything (logout). */
export function resetDeadLetters() {
  summary = pages = null;
  problem = '';
  busy = false;
  asking += 1;
  byId('deadletters-body').replaceChildren();
}
