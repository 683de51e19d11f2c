// The village plan: the uploaded picture (or a plain drawn background) with each device as a
// dot at its position, coloured by state; a dot with an open alert opens that alert.
// Maintainers (and admins) can upload a new picture from here.

import { ApiError, api, blob, put, query } from './api.js';
import { byId, h, mount } from './dom.js';
import { ago, reading } from './format.js';
import { t } from './i18n.js';
import { may } from './session.js';
import { emit, openAlertOf, state } from './state.js';

const DEFAULT_RATIO = 16 / 10;
const pictures = new Map(); // plan URL -> {url (blob), ratio} | 'missing' | a loading mark
let village = null;
const upload = { busy: false, message: null }; // message: {kind, key, vars}
let uploader = null; // the upload control, kept across redraws (a file dialog may be open)

function villages() {
  const ids = new Set(state.devices.map((d) => d.village));
  return state.places
    .filter((p) => p.kind === 'village' && (p.yours || ids.has(p.id.slice('village:'.length))))
    .map((p) => ({ id: p.id.slice('village:'.length), name: p.name, plan: p.plan }));
}

async function picture(url) {
  if (pictures.has(url)) return pictures.get(url);
  const loading = Symbol('loading');
  pictures.set(url, loading);
  let objectUrl = null;
  let found = 'missing';
  try {
    objectUrl = URL.createObjectURL(await blob(url));
    const img = new Image();
    img.src = objectUrl;
    await img.decode();
    found = { url: objectUrl, ratio: img.naturalWidth / img.naturalHeight };
  } catch {
    found = 'missing';
  }
  if (pictures.get(url) !== loading) {
    // forgotten meanwhile (a new plan was uploaded): this picture is stale
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    return pictures.get(url);
  }
  if (found === 'missing' && objectUrl) URL.revokeObjectURL(objectUrl);
  pictures.set(url, found);
  renderPlan();
  return found;
}

/** Forget the picture kept for `url`, so the next drawing fetches it again. */
function forgetPicture(url) {
  const pic = pictures.get(url);
  if (pic && typeof pic === 'object') URL.revokeObjectURL(pic.url);
  pictures.delete(url);
}

// --- uploading the plan (maintainers) ----------------------------------------------------

function say(kind, key, vars = {}) {
  upload.message = { kind, key, vars };
  renderPlan();
}

async function uploadPlan(input) {
  const file = input.files?.[0];
  input.value = ''; // choosing the same file again is a change too
  if (!file || upload.busy || !village) return;
  const target = village;
  const url = `/api/villages/${encodeURIComponent(target)}/plan`;
  upload.busy = true;
  say('busy', 'plan.upload.busy');
  try {
    try {
      await put(url, file);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 0) say('error', 'error.network', { detail: err.detail });
      else say('error', 'plan.upload.refused', { detail: err.detail });
      return;
    }
    forgetPicture(url);
    try {
      state.places = await api('/api/places'); // the village's plan URL, if it had none before
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
    }
    upload.message = { kind: 'ok', key: 'plan.upload.done', vars: {} };
    emit('devices'); // redraw the plan (and the rest that shows places)
  } finally {
    upload.busy = false;
    renderPlan();
  }
}

function uploadControl() {
  if (!uploader) {
    const input = h('input', {
      type: 'file',
      accept: 'image/png,image/jpeg',
      class: 'plan-upload-input',
      'data-testid': 'plan-upload',
      onchange: (ev) => uploadPlan(ev.target),
    });
    const text = h('span', { class: 'plan-upload-text' });
    const message = h('p', { class: 'act-msg plan-upload-message', 'data-testid': 'plan-upload-message', role: 'status' });
    uploader = { input, text, label: h('label', { class: 'plan-upload' }, input, text), message };
  }
  const { input, text, label, message } = uploader;
  text.textContent = t(upload.busy ? 'plan.upload.busy' : 'plan.upload');
  label.title = t('plan.upload.title');
  label.classList.toggle('busy', upload.busy);
  input.disabled = upload.busy;
  input.setAttribute('aria-label', t('plan.upload.title'));
  const m = upload.message;
  const said = m ? t(m.key, m.vars) : '';
  if (message.textContent !== said) message.textContent = said;
  message.className = `act-msg plan-upload-message${m ? ` ${m.kind}` : ''}`;
  return [label, message];
}

/** Forget what the upload said (at logout). */
export function resetPlan() {
  upload.message = null;
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

const SEVERITIES = ['red', 'orange', 'yellow', 'blue', 'info'];
const CLUSTER_PX = 18; // dots closer than this on screen gather into one (charts18)
let openCluster = null; // the key of the cluster whose list is open
let resizing = null;
addEventListener('resize', () => { // clusters depend on the drawn size
  clearTimeout(resizing);
  resizing = setTimeout(() => { if (state.devices.length) renderPlan(); }, 200);
});

function dot(d, labelSide) {
  const label = labelSide ? h('span', { class: `dot-label ${labelSide}` }, d.name) : null;
  return h(
    'button',
    {
      type: 'button',
      class: `dot ds-${d.state}${d.worst_severity ? ` sev-${d.worst_severity}` : ''}`,
      style: d.position ? { left: `${(d.position.x * 100).toFixed(2)}%`, top: `${(d.position.y * 100).toFixed(2)}%` } : {},
      title: tooltip(d),
      'aria-label': tooltip(d),
      'data-testid': 'plan-dot',
      'data-device-id': d.id,
      'data-state': d.state,
      'data-severity': d.state === 'alarm' ? d.worst_severity ?? '' : '',
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

/**
 * The quiet devices (not in alarm) that lie closer than CLUSTER_PX on a plan `width` px wide
 * (height `width / ratio`), gathered: [{key, x, y, members}]; every alarm stays its own dot,
 * so no alert hides in a cluster.
 */
function clusters(devices, width, ratio) {
  const height = width / ratio;
  const groups = [];
  for (const d of devices.filter((x) => x.state !== 'alarm')) {
    const px = d.position.x * width;
    const py = d.position.y * height;
    const near = groups.find((g) => Math.hypot(g.px - px, g.py - py) < CLUSTER_PX);
    if (near) {
      near.members.push(d);
      const n = near.members.length;
      near.px += (px - near.px) / n;
      near.py += (py - near.py) / n;
    } else {
      groups.push({ px, py, members: [d] });
    }
  }
  return groups.filter((g) => g.members.length > 1).map((g) => ({
    key: g.members.map((d) => d.id).sort().join(','),
    x: g.px / width, y: g.py / height, members: g.members,
  }));
}

function clusterMark(c) {
  const states = new Set(c.members.map((d) => d.state));
  const state = ['offline', 'unknown', 'ok'].find((st) => states.has(st)) ?? 'ok';
  const open = openCluster === c.key;
  return [
    h('button', {
      type: 'button', class: `cluster ds-${state}`, 'data-testid': 'plan-cluster', 'data-count': c.members.length,
      style: { left: `${(c.x * 100).toFixed(2)}%`, top: `${(c.y * 100).toFixed(2)}%` },
      title: t('plan.cluster.title', { n: c.members.length }), 'aria-expanded': String(open),
      'aria-label': t('plan.cluster.title', { n: c.members.length }),
      onclick: () => { openCluster = open ? null : c.key; renderPlan(); },
    }, String(c.members.length)),
  ];
}

/** The devices of each cluster, listed below the plan (the open one shown), so none is out of reach. */
function clusterLists(gathered) {
  return gathered.map((c) => h('ul', {
    class: 'cluster-list', hidden: openCluster !== c.key, 'data-testid': 'plan-cluster-list',
  }, c.members.map((d) => h('li', {}, dot({ ...d, position: null }), d.name || d.id))));
}

/** Each grid as a dashed area around its devices with its name above it, readable. */
function gridAreas(devices) {
  const grids = new Map();
  for (const d of devices) {
    const g = grids.get(d.grid) ?? [];
    g.push(d.position);
    grids.set(d.grid, g);
  }
  const names = new Map(state.places.map((p) => [p.id, p.name]));
  const pad = 0.025;
  const areas = [...grids].map(([grid, spots]) => ({
    grid,
    x0: Math.max(0, Math.min(...spots.map((p) => p.x)) - pad),
    y0: Math.max(0.01, Math.min(...spots.map((p) => p.y)) - pad),
    x1: Math.min(1, Math.max(...spots.map((p) => p.x)) + pad),
    y1: Math.min(0.99, Math.max(...spots.map((p) => p.y)) + pad),
  }));
  const inside = (a, b) => a !== b && a.x0 >= b.x0 && a.x1 <= b.x1 && a.y0 >= b.y0 && a.y1 <= b.y1;
  return areas.map((a) => {
    // a grid within another names itself below, clear of the outer one's name; one at the
    // top edge names itself inside, where the name is not cut off
    const where = areas.some((b) => inside(a, b)) ? 'below' : a.y0 < 0.1 ? 'inside' : 'above';
    // a grid on the right names itself from its right edge, so the name stays on the plan
    const side = a.x0 + a.x1 > 1 ? ' end' : '';
    const name = names.get(`grid:${devices[0].village}/${a.grid}`) ?? a.grid;
    return h('div', {
      class: 'grid-area', 'data-testid': 'plan-grid', 'data-grid': a.grid,
      style: { left: `${a.x0 * 100}%`, top: `${a.y0 * 100}%`, width: `${(a.x1 - a.x0) * 100}%`, height: `${(a.y1 - a.y0) * 100}%` },
    }, h('span', { class: `grid-label ${where}${side}`, 'data-testid': 'plan-grid-label', title: name }, name));
  });
}

function legend() {
  const sample = (cls, text, testid) => h('span', { class: 'legend-item', 'data-testid': testid },
    h('i', { class: `dot-sample ${cls}` }), text);
  return h(
    'div',
    { class: 'legend', 'data-testid': 'plan-legend', title: t('plan.legend') },
    SEVERITIES.slice(0, 4).map((sev) => sample(`ds-alarm sev-${sev}`, `${t('dstate.alarm')} · ${t(`sev.${sev}`)}`, 'plan-legend-severity')),
    ['offline', 'ok', 'unknown'].map((st) => sample(`ds-${st}`, t(`dstate.${st}`), 'plan-legend-state')),
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
  const width = el.querySelector('.plan-canvas')?.clientWidth || el.clientWidth || 600; // as last drawn
  const gathered = clusters(placed, width, ratio);
  const inCluster = new Set(gathered.flatMap((c) => c.members.map((d) => d.id)));
  if (openCluster && !gathered.some((c) => c.key === openCluster)) openCluster = null;
  mount(
    el,
    h('div', { class: 'plan-head' }, picker, legend(), may('maintainer') ? uploadControl() : null),
    h(
      'div',
      {
        class: `plan-canvas${hasPic ? ' has-picture' : ' drawn'}`,
        style: { '--ar': String(ratio) },
        'data-testid': 'plan',
        'data-village': village,
      },
      hasPic ? h('img', { class: 'plan-img', src: pic.url, alt: chosen.name, 'data-testid': 'plan-image' }) : null,
      gridAreas(placed),
      placed.filter((d) => !inCluster.has(d.id)).map((d) => dot(d, sides.get(d.id))),
      gathered.map(clusterMark),
    ),
    clusterLists(gathered),
    h(
      'p',
      { class: 'plan-note muted' },
      [hasPic ? null : t('plan.drawn'), unplaced ? t('plan.unplaced', { n: unplaced }) : null]
        .filter(Boolean)
        .join(' · '),
    ),
  );
}
