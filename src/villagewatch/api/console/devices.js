// The device health table: name, kind, grid, link, battery, newest values, last seen, state.
// Click a column heading to sort by it (again: the other way round).

import { byId, h, mount } from './dom.js';
import { ago, fullTime, num, reading } from './format.js';
import { t } from './i18n.js';
import { on, rank, state } from './state.js';

const LOW_BATTERY = 20; // percent
const STATE_ORDER = { alarm: 0, offline: 1, unknown: 2, ok: 3 };
const LINK_ORDER = { offline: 0, late: 1, never: 2, ok: 3 };
const COLUMNS = [
  ['name', (d) => d.name],
  ['kind', (d) => t(`kind.${d.kind}`)],
  ['grid', (d) => gridName(d)],
  ['link', (d) => LINK_ORDER[d.link]],
  ['battery', (d) => d.battery ?? Infinity],
  ['last', (d) => Object.keys(d.last).length],
  ['seen', (d) => (d.last_seen ? -new Date(d.last_seen).getTime() : Infinity)],
  ['state', (d) => STATE_ORDER[d.state] * 10 - rank(d.worst_severity) - 1], // red alarms first
];
let sortBy = 'state';
let ascending = true;

function gridName(d) {
  return state.places.find((p) => p.id === d.place)?.name ?? d.grid;
}

function compare(a, b) {
  const key = COLUMNS.find(([name]) => name === sortBy)[1];
  const x = key(a);
  const y = key(b);
  const order = typeof x === 'string' ? x.localeCompare(y) : x - y;
  return (ascending ? order : -order) || a.name.localeCompare(b.name);
}

function latest(d) {
  return Object.entries(d.last)
    .filter(([metric]) => metric !== 'battery')
    .map(([metric, v]) => reading(metric, v.value))
    .join(' · ');
}

// each cell names its column (data-label): a phone shows a row as a card, without the headings
const cell = (column, attrs, ...children) => h('td', { ...attrs, 'data-label': t(`dev.col.${column}`) }, ...children);

function row(d) {
  return h(
    'tr',
    { 'data-testid': 'device-row', 'data-device-id': d.id, 'data-state': d.state, id: `device-${d.village}-${d.id}` },
    cell('name', { title: d.id, class: 'cell-name' }, d.name),
    cell('kind', {}, t(`kind.${d.kind}`)),
    cell('grid', {}, gridName(d)),
    cell('link', {}, h('span', { class: `link link-${d.link}` }, t(`link.${d.link}`))),
    cell('battery', { class: `num${d.battery !== null && d.battery < LOW_BATTERY ? ' low' : ''}` },
      d.battery === null ? '—' : `${num(d.battery, 0)}%`),
    cell('last', { class: 'latest' }, latest(d) || '—'),
    cell('seen', { title: fullTime(d.last_seen), class: 'cell-seen' }, d.last_seen ? ago(d.last_seen) : '—'),
    cell(
      'state',
      { class: 'cell-state' },
      h('span', { class: `dstate ds-${d.state}` }, t(`dstate.${d.state}`)),
      d.open_alerts ? h('span', { class: `sev sev-${d.worst_severity} mini` }, d.open_alerts) : null,
    ),
  );
}

function heading([name]) {
  const active = name === sortBy;
  return h(
    'th',
    { 'aria-sort': active ? (ascending ? 'ascending' : 'descending') : 'none' },
    h(
      'button',
      {
        type: 'button',
        class: 'sort',
        'data-sort': name,
        onclick: () => {
          ascending = active ? !ascending : true;
          sortBy = name;
          renderDevices();
        },
      },
      t(`dev.col.${name}`),
      active ? (ascending ? ' ▲' : ' ▼') : '',
    ),
  );
}

/** Draw the table from state.devices. */
export function renderDevices() {
  const devices = [...state.devices].sort(compare);
  const count = (s) => devices.filter((d) => d.state === s).length;
  byId('devices-summary').textContent = t('dev.summary', {
    total: devices.length, alarm: count('alarm'), offline: count('offline'),
  });
  mount(
    byId('devices-body'),
    devices.length === 0
      ? h('p', { class: 'muted' }, t('dev.empty'))
      : h(
        'table',
        { class: 'devices', 'data-testid': 'device-list' },
        h('thead', {}, h('tr', {}, COLUMNS.map(heading))),
        h('tbody', {}, devices.map(row)),
      ),
  );
}

on('show-device', (d) => {
  const tr = document.getElementById(`device-${d.village}-${d.id}`);
  if (!tr) return;
  tr.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  tr.classList.add('flash');
  setTimeout(() => tr.classList.remove('flash'), 2000);
});
