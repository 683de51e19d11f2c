// Camera zones (maintainers): a camera's latest picture with its zones and privacy masks drawn
// over it as SVG. Click to add corners, drag a corner to move it, double-click a corner to
// remove it; apply with a note keeps a version and sends the zones to the camera's edge
// agent; what the agent reported shows below. Coordinates are normalised (0-1 of the picture).

import { ApiError, api, blob } from './api.js';
import { byId, h, mount, s } from './dom.js';
import { fullTime, when } from './format.js';
import { lang, t } from './i18n.js';
import { state } from './state.js';

const REPORT_EVERY_MS = 2000;
const BLANK = { width: 1280, height: 720 }; // the drawing area before a camera sent a picture

let camera = null; // "village/device"
let loaded = null; // the zones answer of the camera
let draft = null; // {zones: [...], masks: [...]} as edited
let selected = null; // {list: 'zones'|'masks', index}
let drawing = null; // {list, kind, points} while a new shape is being drawn
let picture = null; // {url, width, height}
let reported = null;
let message = { text: '', kind: '' };
let poll = null;
let dragging = null; // {list, index, corner, …} while a corner is dragged
let note = ''; // the apply's note as typed (kept across redraws)

const cameras = () => state.devices.filter((d) => d.kind === 'camera');
const base = () => `/api/cameras/${camera}`;
const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

function say(text, kind) {
  message = { text, kind };
  draw();
}

function failed(err) {
  if (!(err instanceof ApiError)) throw err;
  say(t('zones.failed', { detail: err.detail }), 'error');
}

function nextId(list, prefix) {
  const ids = new Set(draft[list].map((x) => x.id));
  let n = 1;
  while (ids.has(`${prefix}-${n}`)) n += 1;
  return `${prefix}-${n}`;
}

async function loadPicture(key) {
  if (picture?.url) URL.revokeObjectURL(picture.url);
  picture = null;
  if (!loaded?.picture) return;
  const file = await blob(`/api/cameras/${key}/picture`).catch(() => null);
  if (!file || camera !== key) return;
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    if (camera !== key) return;
    picture = { url, width: img.naturalWidth, height: img.naturalHeight };
    draw();
  };
  img.src = url;
}

async function loadReported() {
  if (!camera || !loaded?.agent) return;
  const key = camera;
  const got = await api(`${base()}/reported`).catch((err) => {
    if (!(err instanceof ApiError)) throw err;
    return { state: 'unreachable', error: err.detail };
  });
  if (camera !== key) return;
  reported = got;
  // only the report's line: a redraw every few seconds would take the note being typed
  const line = document.querySelector('[data-testid="zones-reported"]');
  if (line && !dragging) line.replaceWith(reportLine());
}

async function choose(key) {
  camera = key;
  loaded = null;
  draft = null;
  selected = null;
  drawing = null;
  reported = null;
  message = { text: '', kind: '' };
  draw();
  if (!key) return;
  const got = await api(`/api/cameras/${key}/zones`).catch(failed);
  if (!got || camera !== key) return;
  loaded = got;
  draft = structuredClone(got.zones);
  draw();
  loadPicture(key);
  loadReported();
}

/** Open the view: the first camera unless one is chosen; the agent's report polled. */
export function openZones() {
  clearInterval(poll);
  poll = setInterval(loadReported, REPORT_EVERY_MS);
  draw();
}

/** Leave the view: stop asking for reports. */
export function closeZones() {
  clearInterval(poll);
  poll = null;
}

/** Forget everything (logout). */
export function resetZones() {
  closeZones();
  if (picture?.url) URL.revokeObjectURL(picture.url);
  camera = loaded = draft = selected = drawing = picture = reported = null;
  note = '';
  drawnFor = '';
}

// --- editing --------------------------------------------------------------------------------

function pointOf(ev, svg) {
  const box = svg.getBoundingClientRect();
  return [round((ev.clientX - box.left) / box.width), round((ev.clientY - box.top) / box.height)];
}

function startDrawing(list) {
  const kind = byId('zones-kind').value;
  drawing = { list, kind, points: [] };
  selected = null;
  say(t('zones.drawing'), 'busy');
}

function finishDrawing() {
  if (!drawing) return;
  if (drawing.points.length < 3) {
    say(t('zones.few'), 'error');
    return;
  }
  const { list, kind, points } = drawing;
  const shape = list === 'zones'
    ? { id: nextId('zones', kind.replace(/_/g, '-')), kind, polygon: points }
    : { id: nextId('masks', 'mask'), polygon: points };
  draft[list].push(shape);
  selected = { list, index: draft[list].length - 1 };
  drawing = null;
  say('', '');
}

function removeSelected() {
  if (!selected) return;
  draft[selected.list].splice(selected.index, 1);
  selected = null;
  draw();
}

function onCanvasClick(ev) {
  if (!drawing) return;
  drawing.points.push(pointOf(ev, ev.currentTarget));
  draw();
}

function onCornerDown(ev, list, index, corner) {
  ev.stopPropagation();
  if (drawing) return;
  const circle = ev.currentTarget;
  const svg = circle.ownerSVGElement;
  // moved in place while dragging: a redraw would drop the element holding the pointer
  dragging = { list, index, corner, svg, circle, polygon: circle.parentNode.querySelector('polygon') };
  circle.setPointerCapture(ev.pointerId);
}

function onCornerMove(ev) {
  if (!dragging) return;
  const { list, index, corner, svg, circle, polygon } = dragging;
  const [x, y] = pointOf(ev, svg);
  const shape = draft[list][index];
  shape.polygon[corner] = [x, y];
  const { width, height } = svg.viewBox.baseVal;
  circle.setAttribute('cx', x * width);
  circle.setAttribute('cy', y * height);
  polygon.setAttribute('points', shape.polygon.map(([px, py]) => `${px * width},${py * height}`).join(' '));
}

function onCornerUp() {
  const was = dragging;
  dragging = null;
  if (was) draw();
}

function removeCorner(ev, list, index, corner) {
  ev.stopPropagation();
  const polygon = draft[list][index].polygon;
  if (polygon.length > 3) polygon.splice(corner, 1);
  else say(t('zones.few'), 'error');
  draw();
}

async function apply(ev) {
  ev.preventDefault();
  const why = note.trim();
  if (!why) {
    say(t('zones.note.needed'), 'error');
    return;
  }
  say(t('zones.applying'), 'busy');
  const key = camera;
  const done = await api(`${base()}/zones`, { method: 'PUT', body: { ...draft, note: why } }).catch(failed);
  if (!done || camera !== key) return;
  note = '';
  const got = await api(`${base()}/zones`).catch(failed);
  if (got) loaded = got;
  say(t('zones.applied', { version: done.version, desired: done.desired_version, agent: done.agent }), 'ok');
  loadReported();
}

// --- drawing ------------------------------------------------------------------------------

function shapeLabel(list, shape) {
  return list === 'zones' ? `${shape.id} · ${t(`zones.kind.${shape.kind}`)}` : `${shape.id} · ${t('zones.mask')}`;
}

function overlay(size) {
  const r = Math.max(size.width, size.height) / 110;
  const pts = (poly) => poly.map(([x, y]) => `${x * size.width},${y * size.height}`).join(' ');
  const shapes = ['masks', 'zones'].flatMap((list) => draft[list].map((shape, index) => {
    const on = selected?.list === list && selected.index === index;
    return s('g', { class: `shape ${list === 'masks' ? 'mask' : `zone ${shape.kind}`}${on ? ' selected' : ''}`,
      'data-testid': `zones-shape-${shape.id}` },
    s('polygon', { points: pts(shape.polygon), onclick: (ev) => {
      if (drawing) return;
      ev.stopPropagation();
      selected = { list, index };
      draw();
    } }),
    on ? shape.polygon.map(([x, y], corner) => s('circle', {
      cx: x * size.width, cy: y * size.height, r, class: 'corner', 'data-testid': 'zones-corner',
      onpointerdown: (ev) => onCornerDown(ev, list, index, corner), onpointermove: onCornerMove,
      onpointerup: onCornerUp, ondblclick: (ev) => removeCorner(ev, list, index, corner),
    })) : null);
  }));
  const drawn = drawing ? s('g', { class: 'shape drawing' },
    s('polyline', { points: pts(drawing.points) }),
    drawing.points.map(([x, y]) => s('circle', { cx: x * size.width, cy: y * size.height, r, class: 'corner' }))) : null;
  return s('svg', {
    class: `zones-overlay${drawing ? ' is-drawing' : ''}`, viewBox: `0 0 ${size.width} ${size.height}`,
    preserveAspectRatio: 'none', 'data-testid': 'zones-canvas', onclick: onCanvasClick,
  }, shapes, drawn);
}

function reportLine() {
  if (!loaded.agent) return h('p', { class: 'muted', 'data-testid': 'zones-reported', 'data-state': 'no_agent' }, t('zones.noagent'));
  const r = reported;
  const st = r?.state ?? 'loading';
  const vars = { agent: loaded.agent, version: r?.reported_version ?? '', desired: r?.desired_version ?? '', error: r?.error ?? '' };
  return h('p', { class: `zones-report ${st}`, 'data-testid': 'zones-reported', 'data-state': st,
    'data-version': r?.reported_version ?? '' }, t(`zones.report.${st}`, vars));
}

function details() {
  if (!selected) return h('p', { class: 'muted' }, t('zones.select'));
  const shape = draft[selected.list][selected.index];
  const idInput = h('input', { value: shape.id, maxlength: 64, 'data-testid': 'zones-id',
    onchange: (ev) => {
      const id = ev.target.value.trim();
      if (/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) shape.id = id;
      else say(t('zones.id.bad', { id }), 'error');
      draw();
    } });
  const kind = selected.list === 'zones' ? h('select', { 'data-testid': 'zones-shape-kind',
    onchange: (ev) => { shape.kind = ev.target.value; draw(); } },
  loaded.kinds.map((k) => h('option', { value: k, selected: k === shape.kind }, t(`zones.kind.${k}`)))) : null;
  return h('div', { class: 'zones-details' },
    h('label', { class: 'field' }, h('span', {}, t('zones.id')), idInput),
    kind ? h('label', { class: 'field' }, h('span', {}, t('zones.kind')), kind) : null,
    h('button', { type: 'button', class: 'small danger', 'data-testid': 'zones-delete', onclick: removeSelected }, t('zones.delete')));
}

let drawnFor = ''; // the language and cameras the view was last drawn for

/** Draw the view again if the language or the list of cameras changed (the devices reload
 * every 30 s: redrawing then would take the focus from a note being typed). */
export function renderZones() {
  const now = [lang(), ...cameras().map((d) => `${d.village}/${d.id}`)].join(' ');
  if (now !== drawnFor || byId('zones-body').childElementCount === 0) draw();
}

function draw() {
  const root = byId('zones-body');
  if (byId('zones').hidden || dragging) return;
  const list = cameras();
  drawnFor = [lang(), ...list.map((d) => `${d.village}/${d.id}`)].join(' ');
  if (!camera && list.length) {
    choose(`${list[0].village}/${list[0].id}`);
    return;
  }
  const picker = h('select', { 'data-testid': 'zones-camera', onchange: (ev) => choose(ev.target.value) },
    h('option', { value: '' }, t('zones.choose')),
    list.map((d) => h('option', { value: `${d.village}/${d.id}`, selected: `${d.village}/${d.id}` === camera }, d.name || d.id)));
  const msg = h('p', { class: `act-msg ${message.kind}`, 'data-testid': 'zones-message', role: 'status' }, message.text);
  if (!loaded || !draft) {
    mount(root, h('div', { class: 'zones-bar' }, picker), msg,
      h('p', { class: 'muted' }, list.length ? t('feed.loading') : t('zones.none')));
    return;
  }
  const size = picture ?? BLANK;
  const stage = h('div', { class: 'zones-stage', 'data-testid': 'zones-picture' },
    picture ? h('img', { src: picture.url, alt: t('zones.picture'), draggable: 'false' })
      : h('div', { class: 'zones-blank' }, t('zones.nopicture')),
    overlay(size));
  stage.style.setProperty('aspect-ratio', `${size.width} / ${size.height}`);
  const kinds = h('select', { id: 'zones-kind', 'data-testid': 'zones-kind' },
    loaded.kinds.map((k) => h('option', { value: k }, t(`zones.kind.${k}`))));
  const tools = drawing
    ? [h('button', { type: 'button', class: 'primary small', 'data-testid': 'zones-finish', onclick: () => { finishDrawing(); draw(); } }, t('zones.finish')),
      h('button', { type: 'button', class: 'small', 'data-testid': 'zones-cancel', onclick: () => { drawing = null; say('', ''); } }, t('zones.cancel'))]
    : [kinds,
      h('button', { type: 'button', class: 'small', 'data-testid': 'zones-new-zone', onclick: () => startDrawing('zones') }, t('zones.newzone')),
      h('button', { type: 'button', class: 'small', 'data-testid': 'zones-new-mask', onclick: () => startDrawing('masks') }, t('zones.newmask'))];
  const shapes = h('ul', { class: 'zones-list', 'data-testid': 'zones-list' },
    ['zones', 'masks'].flatMap((l) => draft[l].map((shape, index) => h('li', {
      class: selected?.list === l && selected.index === index ? 'selected' : '',
      onclick: () => { selected = { list: l, index }; draw(); },
    }, shapeLabel(l, shape)))));
  const v = loaded.version;
  const version = h('p', { class: 'muted', 'data-testid': 'zones-version' }, v
    ? t('zones.version', { n: v.number, who: v.who, when: when(new Date(v.at_ms).toISOString()), note: v.note })
    : t('zones.noversion'));
  if (v) version.title = fullTime(new Date(v.at_ms).toISOString());
  const form = h('form', { class: 'zones-apply', onsubmit: apply },
    h('input', { id: 'zones-note', maxlength: 500, value: note, 'data-testid': 'zones-note',
      placeholder: t('zones.note'), oninput: (ev) => { note = ev.target.value; } }),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'zones-apply', disabled: !!drawing }, t('zones.apply')));
  mount(root,
    h('div', { class: 'zones-bar' }, picker, h('span', { class: 'spacer' }), tools),
    msg,
    h('div', { class: 'zones-main' }, stage,
      h('div', { class: 'zones-side' }, h('h3', {}, t('zones.shapes')), shapes, details(), version, form, reportLine())));
}
