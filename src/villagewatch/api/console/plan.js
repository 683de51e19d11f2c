// The village plan: the uploaded picture (or a plain drawn background) with each device as a
// dot at its position, coloured by state; a dot with an open alert opens that alert.

import { ApiError, api, blob, query } from './api.js';
import { byId, h, mount } from './dom.js';
import { ago, reading } from './format.js';
import { t } from './i18n.js';
import { emit, openAlertOf, state } from './state.js';

const DEFAULT_RATIO = 16 / 10;
const pictures = new Map(); // plan URL -> {url (blob), ratio} | 'missing'
let village = null;

function villages() {
  const ids = new Set(state.devices.map((d) => d.village));
  return state.places
    .filter((p) => p.kind === 'village' && (p.yours || ids.has(p.id.slice('village:'.length))))
    .map((p) => ({ id: p.id.slice('village:'.length), name: p.name, plan: p.plan }));
}

async function picture(url) {
  if (pictures.has(url)) return pictures.get(url);
  pictures.set(url, 'loading');
  try {
    const objectUrl = URL.createObjectURL(await blob(url));
    const img = new Image();
    img.src = objectUrl;
    await img.decode();
    pictures.set(url, { url: objectUrl, ratio: img.naturalWidth / img.naturalHeight });
  } catch {
    pictures.set(url, 'missing');
  }
  renderPlan();
  return pictures.get(url);
}

function tooltip(d) {
  const lines = [`${d.name} (${d.id})`, `${t(`kind.${d.kind}`)} · ${t(`dstate.${d.state}`)}`];
  const metrics = Object.entries(d.last).sort(([a], [b]) => (a === 'battery') - (b === 'battery'));
  for (const [metric, last] of metrics) lines.push(reading(metric, last.value)); // battery last
  if (d.last_seen) lines.push(`${t('dev.col.seen')}: ${ago(d.last_seen)}`);
  return lines.join('\n');
}

async function openDevice(d) {
  let alert = openAlertOf(d.village, d.id);
  if (!alert && d.open_alerts > 0) {
    try {
      const found = await api(`/api/alerts${query({
        state: ['pending', 'firing', 'acknowledged'], place: d.place, limit: 200,
      })}`);
      alert = found.find((a) => a.village === d.village && a.subject.split(':')[0] === d.id);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
    }
  }
  if (alert) location.hash = `alert/${alert.id}`;
  else emit('show-device', d);
}

function dot(d, labelSide) {
  const label = labelSide ? h('span', { class: `dot-label ${labelSide}` }, d.name) : null;
  return h(
    'button',
    {
      type: 'button',
      class: `dot ds-${d.state}${d.worst_severity ? ` sev-${d.worst_severity}` : ''}`,
      style: { left: `${(d.position.x * 100).toFixed(2)}%`, top: `${(d.position.y * 100).toFixed(2)}%` },
      title: tooltip(d),
      'aria-label': tooltip(d),
      'data-testid': 'plan-dot',
      'data-device-id': d.id,
      'data-state': d.state,
      onclick: () => openDevice(d),
    },
    label,
  );
}

/** Which side each alarmed device's name goes (right, left or below), so close ones don't overlap. */
function labelSides(devices) {
  const sides = new Map();
  const placed = [];
  for (const d of devices.filter((x) => x.state === 'alarm').sort((a, b) => a.position.y - b.position.y)) {
    const near = (side) => placed.some((p) => p.side === side
      && Math.abs(p.y - d.position.y) < 0.06 && Math.abs(p.x - d.position.x) < 0.25);
    const preferred = d.position.x > 0.75 ? ['left', 'right'] : ['right', 'left'];
    const side = [...preferred, 'below'].find((s) => !near(s)) ?? 'below';
    sides.set(d.id, side);
    placed.push({ x: d.position.x, y: d.position.y, side });
  }
  return sides;
}

function gridLabels(devices) {
  const grids = new Map();
  for (const d of devices) {
    const g = grids.get(d.grid) ?? { xs: [], ys: [] };
    g.xs.push(d.position.x);
    g.ys.push(d.position.y);
    grids.set(d.grid, g);
  }
  const names = new Map(state.places.map((p) => [p.id, p.name]));
  return [...grids].map(([grid, { xs, ys }]) => {
    const x = xs.reduce((a, b) => a + b) / xs.length;
    const y = Math.max(...ys) + 0.05;
    const name = names.get(`grid:${devices[0].village}/${grid}`) ?? grid;
    return h('span', { class: 'grid-label', style: { left: `${x * 100}%`, top: `${Math.min(y, 0.97) * 100}%` } }, name);
  });
}

function legend() {
  return h(
    'div',
    { class: 'legend' },
    ['alarm', 'offline', 'ok', 'unknown'].map((s) =>
      h('span', { class: 'legend-item' }, h('i', { class: `dot-sample ds-${s}` }), t(`dstate.${s}`)),
    ),
  );
}

/** Draw the plan of the chosen village from state.devices and state.places. */
export function renderPlan() {
  const el = byId('plan-panel-body');
  const all = villages();
  if (all.length === 0) {
    mount(el, h('p', { class: 'muted' }, t('plan.none')));
    return;
  }
  if (!all.some((v) => v.id === village)) village = all[0].id;
  const chosen = all.find((v) => v.id === village);
  const devices = state.devices.filter((d) => d.village === village);
  const placed = devices.filter((d) => d.position);
  const pic = chosen.plan ? pictures.get(chosen.plan) : undefined;
  if (chosen.plan && pic === undefined) picture(chosen.plan);
  const hasPic = pic && typeof pic === 'object';
  const ratio = hasPic ? pic.ratio : DEFAULT_RATIO;
  const picker = all.length > 1
    ? h(
      'select',
      {
        'data-testid': 'plan-village',
        'aria-label': t('plan.village'),
        onchange: (ev) => { village = ev.target.value; renderPlan(); },
      },
      all.map((v) => h('option', { value: v.id, selected: v.id === village }, v.name)),
    )
    : h('span', { class: 'plan-village' }, chosen.name);
  const unplaced = devices.length - placed.length;
  const sides = labelSides(placed);
  mount(
    el,
    h('div', { class: 'plan-head' }, picker, legend()),
    h(
      'div',
      {
        class: `plan-canvas${hasPic ? ' has-picture' : ' drawn'}`,
        style: { '--ar': String(ratio) },
        'data-testid': 'plan',
        'data-village': village,
      },
      hasPic ? h('img', { class: 'plan-img', src: pic.url, alt: chosen.name, 'data-testid': 'plan-image' }) : null,
      hasPic ? null : gridLabels(placed),
      placed.map((d) => dot(d, sides.get(d.id))),
    ),
    h(
      'p',
      { class: 'plan-note muted' },
      [hasPic ? null : t('plan.drawn'), unplaced ? t('plan.unplaced', { n: unplaced }) : null]
        .filter(Boolean)
        .join(' · '),
    ),
  );
}
