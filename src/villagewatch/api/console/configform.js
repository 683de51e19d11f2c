// The detector settings as a form generated from the village file's JSON schema (served by
// GET /api/config/village/schema): labels, descriptions, units, bounds, defaults and choices
// come from the typed models. It handles what the detect section uses — numbers, optional
// numbers, strings, booleans, choices, lists of values, lists of objects (rain tiers) and a
// map of choices (camera severities) — not JSON schema at large.
//
// The form edits a plain object shaped as the file's `detect:` section, holding only what
// the file sets: an empty input means "the default", so the file keeps only what was chosen.

import { h } from './dom.js';
import { num } from './format.js';
import { t } from './i18n.js';

const SEVERITY_REF = '#/$defs/Severity';

function resolve(schema, prop) {
  return prop?.$ref ? schema.$defs[prop.$ref.split('/').at(-1)] : prop;
}

/** The shape of a property: {optional, type, def, choices, item, values}. */
function shape(schema, prop) {
  const options = prop.anyOf ?? [prop];
  const optional = options.some((o) => o.type === 'null');
  const inner = options.find((o) => o.type !== 'null' && o.const === undefined) ?? options[0];
  const target = resolve(schema, inner);
  if (target.enum) return { optional, type: 'choice', choices: target.enum, severity: inner.$ref === SEVERITY_REF };
  if (target.type === 'array') {
    const item = resolve(schema, target.items);
    return item.type === 'object' ? { optional, type: 'rows', item } : { optional, type: 'values', itemType: item.type };
  }
  if (target.type === 'object' && target.additionalProperties) {
    return { optional, type: 'map', values: shape(schema, target.additionalProperties) };
  }
  return { optional, type: target.type, min: target.minimum, max: target.maximum,
    gt: target.exclusiveMinimum, lt: target.exclusiveMaximum };
}

function label(name) {
  const text = t(`cfgf.${name}`);
  return text === `cfgf.${name}` ? name.replaceAll('_', ' ') : text;
}

function choiceText(value, severity) {
  return severity ? t(`sev.${value}`) : String(value);
}

function bounds(s) {
  const parts = [];
  if (s.min !== undefined) parts.push(`≥ ${num(s.min, 6)}`);
  if (s.gt !== undefined) parts.push(`> ${num(s.gt, 6)}`);
  if (s.max !== undefined) parts.push(`≤ ${num(s.max, 6)}`);
  if (s.lt !== undefined) parts.push(`< ${num(s.lt, 6)}`);
  return parts.join(', ');
}

function parseNumber(text) {
  const value = Number(text);
  return text.trim() === '' || !Number.isFinite(value) ? text : value; // the server judges text
}

function setOrDelete(obj, name, value) {
  if (value === undefined) delete obj[name];
  else obj[name] = value;
}

// --- one input --------------------------------------------------------------------------

function scalarInput(s, value, prop, changed) {
  if (s.type === 'choice') {
    return h('select', { onchange: (ev) => changed(ev.target.value === '' ? undefined
      : s.choices.find((c) => String(c) === ev.target.value)) },
    h('option', { value: '' }, prop.default !== undefined ? t('cfg.default', { value: choiceText(prop.default, s.severity) }) : '—'),
    s.choices.map((c) => h('option', { value: String(c), selected: value === c }, choiceText(c, s.severity))));
  }
  if (s.type === 'boolean') {
    return h('input', { type: 'checkbox', checked: value ?? prop.default ?? false, onchange: (ev) => changed(ev.target.checked) });
  }
  const numeric = s.type === 'number' || s.type === 'integer';
  const shown = prop.default === undefined ? '' : prop.default === null ? t('cfg.unset') : String(prop.default);
  return h('input', {
    type: 'text', inputmode: numeric ? 'decimal' : null, // text: the server judges what was typed
    value: value === undefined || value === null ? '' : String(value),
    placeholder: shown ? t('cfg.default', { value: shown }) : '',
    spellcheck: 'false', autocomplete: 'off',
    oninput: (ev) => {
      const text = ev.target.value;
      changed(text.trim() === '' ? undefined : numeric ? parseNumber(text) : text);
    },
  });
}

function valuesInput(s, value, prop, changed) {
  const numeric = s.itemType === 'number' || s.itemType === 'integer';
  return h('input', {
    type: 'text', value: Array.isArray(value) ? value.join(', ') : '',
    placeholder: Array.isArray(prop.default) ? t('cfg.default', { value: prop.default.join(', ') }) : t('cfg.list.hint'),
    oninput: (ev) => {
      const items = ev.target.value.split(/[,，]/).map((x) => x.trim()).filter(Boolean);
      changed(items.length ? items.map((x) => (numeric ? parseNumber(x) : x)) : undefined);
    },
  });
}

function rowsInput(schema, s, value, path, changed, redraw) {
  const rows = Array.isArray(value) ? value : [];
  const names = Object.keys(s.item.properties);
  const commit = () => changed(rows.length ? rows : undefined);
  return h('div', { class: 'cfg-rows' },
    rows.map((row, i) => h('div', { class: 'cfg-row', 'data-path': `${path}[${i}]` },
      names.map((n) => fieldBox(schema, n, s.item.properties[n], row, `${path}[${i}].${n}`, commit, redraw, true)),
      h('button', { type: 'button', class: 'small quiet', onclick: () => { rows.splice(i, 1); commit(); redraw(); } }, t('cfg.list.remove')))),
    h('button', { type: 'button', class: 'small', onclick: () => { rows.push({}); commit(); redraw(); } }, t('cfg.list.add')));
}

// an input's accessible name where no <label> can point at it (a map's value, a family's mode)
function named(el, name) {
  el.setAttribute('aria-label', name);
  return el;
}

let fieldIds = 0; // ids that tie each setting's <label> to its input

function mapInput(s, value, path, changed, redraw) {
  const map = value && typeof value === 'object' ? value : {};
  const commit = () => changed(Object.keys(map).length ? map : undefined);
  const keyInput = h('input', { type: 'text', placeholder: t('cfg.key'), spellcheck: 'false' });
  return h('div', { class: 'cfg-rows' },
    Object.entries(map).map(([k, v]) => h('div', { class: 'cfg-row', 'data-path': `${path}.${k}` },
      h('code', {}, k),
      named(scalarInput(s.values, v, {}, (x) => { setOrDelete(map, k, x); commit(); }), k),
      h('button', { type: 'button', class: 'small quiet', onclick: () => { delete map[k]; commit(); redraw(); } }, t('cfg.list.remove')))),
    h('div', { class: 'cfg-row' }, keyInput,
      h('button', { type: 'button', class: 'small', onclick: () => {
        const k = keyInput.value.trim();
        if (!k || k in map) return;
        map[k] = s.values.choices[0];
        commit();
        redraw();
      } }, t('cfg.list.add'))));
}

// One setting: its label, unit, bounds and description from the schema, its input, and a
// place for its problem.
function fieldBox(schema, name, prop, obj, path, onChange, redraw, compact = false) {
  const s = shape(schema, prop);
  const changed = (value) => { setOrDelete(obj, name, value); onChange(); };
  const input = s.type === 'rows' ? rowsInput(schema, s, obj[name], path, changed, redraw)
    : s.type === 'map' ? mapInput(s, obj[name], path, changed, redraw)
      : s.type === 'values' ? valuesInput(s, obj[name], prop, changed)
        : scalarInput(s, obj[name], prop, changed);
  const limits = bounds(s);
  const labelled = input.matches('input, select, textarea');
  if (labelled) input.id = `cfg-field-${++fieldIds}`;
  return h('div', { class: `cfg-field${compact ? ' compact' : ''}`, 'data-path': path, 'data-testid': 'cfg-field', 'data-name': name },
    h('label', { title: prop.description ?? '', for: labelled ? input.id : null },
      h('span', { class: 'cfg-label' }, label(name)),
      prop.unit ? h('span', { class: 'cfg-unit' }, prop.unit) : null,
      limits ? h('span', { class: 'cfg-bounds muted' }, limits) : null),
    input,
    compact ? null : h('p', { class: 'cfg-help muted' }, h('code', {}, name), ' ', prop.description ?? ''),
    h('p', { class: 'cfg-error', 'data-testid': 'field-error', role: 'alert' }));
}

/**
 * The families of one device or kind (`families`, the object in the detect section, changed
 * in place) as fieldsets under `path` (e.g. detect.devices.wl-bridge); `onChange` after each
 * edit, `redraw` when the form's shape changed (a family turned on, a row added).
 */
export function familiesForm(schema, families, path, onChange, redraw) {
  const props = schema.$defs.FamilyConfigs.properties;
  return Object.entries(props).map(([name, prop]) => {
    const value = families[name];
    const mode = value === false ? 'off' : value && typeof value === 'object' ? 'set' : 'inherit';
    const model = resolve(schema, (prop.anyOf ?? []).find((o) => o.$ref));
    const select = h('select', {
      'data-testid': `family-${name}`,
      'aria-label': t(`cfg.family.${name}`),
      onchange: (ev) => {
        const next = ev.target.value;
        if (next === 'inherit') delete families[name];
        else families[name] = next === 'off' ? false : {};
        onChange();
        redraw();
      },
    }, ['inherit', 'off', 'set'].map((m) => h('option', { value: m, selected: m === mode }, t(`cfg.family.${m}`))));
    return h('fieldset', { class: `cfg-family ${mode}`, 'data-path': `${path}.${name}`, 'data-family': name },
      h('legend', { title: prop.description ?? '' }, t(`cfg.family.${name}`), ' ', select),
      mode === 'set'
        ? Object.entries(model.properties).map(([field, fprop]) => fieldBox(schema, field, fprop, value, `${path}.${name}.${field}`, onChange, redraw))
        : h('p', { class: 'cfg-help muted' }, prop.description ?? ''),
      h('p', { class: 'cfg-error', 'data-testid': 'field-error', role: 'alert' }));
  });
}

// --- problems ----------------------------------------------------------------------------

const SAYINGS = [
  [/^Input should be greater than or equal to (\S+?)(?: \(got.*)?$/, (m) => t('cfg.err.ge', { n: m[1] })],
  [/^Input should be greater than (\S+?)(?: \(got.*)?$/, (m) => t('cfg.err.gt', { n: m[1] })],
  [/^Input should be less than or equal to (\S+?)(?: \(got.*)?$/, (m) => t('cfg.err.le', { n: m[1] })],
  [/^Input should be less than (\S+?)(?: \(got.*)?$/, (m) => t('cfg.err.lt', { n: m[1] })],
  [/^Input should be a (valid|finite) number/, () => t('cfg.err.number')],
  [/^Input should be a valid integer/, () => t('cfg.err.integer')],
  [/^Field required/, () => t('cfg.err.required')],
  [/^unknown key/, () => t('cfg.err.unknown')],
  [/^Extra inputs/, () => t('cfg.err.unknown')],
  [/^levels must rise/, () => t('cfg.err.levels')],
  [/^no device '.*' in this village/, () => t('cfg.err.nodevice')],
  [/devices report no water level$/, () => t('cfg.err.nolevel')],
  [/should have at least (\d+) item/, (m) => t('cfg.err.short', { n: m[1] })],
  [/^Input should be (.+? or .+?)(?: \(got.*)?$/, (m) => t('cfg.err.choice', { choices: m[1].replaceAll("'", '') })],
];

/** A problem the server found, in the user's language where it is one we know. */
export function sayIssue(message) {
  for (const [pattern, say] of SAYINGS) {
    const m = pattern.exec(message);
    if (m) return say(m);
  }
  return message;
}

function parent(path) {
  const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
  return cut > 0 ? path.slice(0, cut) : '';
}

/**
 * Put each problem on the field (or, failing that, the family or row) its path names in
 * `root`; clears the ones shown before. Returns the problems no field of the form holds.
 */
export function placeIssues(root, issues) {
  for (const el of root.querySelectorAll('.cfg-error')) el.textContent = '';
  for (const el of root.querySelectorAll('.invalid')) el.classList.remove('invalid');
  const boxes = new Map([...root.querySelectorAll('[data-path]')].map((el) => [el.dataset.path, el]));
  const left = [];
  const slotOf = (box) => box && [...box.querySelectorAll(':scope > .cfg-error')].at(-1);
  for (const issue of issues) {
    let path = issue.path;
    while (path && !slotOf(boxes.get(path))) path = parent(path);
    const box = path ? boxes.get(path) : null;
    const slot = slotOf(box);
    if (!slot) {
      left.push(issue);
      continue;
    }
    box.classList.add('invalid');
    slot.textContent = [slot.textContent, sayIssue(issue.message)].filter(Boolean).join('；');
  }
  return left;
}
