// The config page (maintainers): a village's detector settings as a form or as the file's
// YAML, checked as they are typed (each problem on its field), a device's stored series with
// the thresholds in use and the changed ones and a replay's would-be alerts, applying with a
// note after seeing the diff, and the versions with rollback.

import { ApiError, api, post } from './api.js';
import { chartPanel, fetchSeries, replayOn } from './configchart.js';
import { familiesForm, placeIssues, sayIssue } from './configform.js';
import { detectYaml, sameSettings, spliceDetect } from './configyaml.js';
import { byId, h, mount } from './dom.js';
import { fullTime, when } from './format.js';
import { t } from './i18n.js';

const CHECK_AFTER_MS = 300;

let cfg = null;
let parts = null;
let checkTimer = null;
let asked = 0; // the newest preview asked for; older answers are dropped

function fresh() {
  return {
    form: null, village: null, file: null, detect: {}, text: '', mode: 'form', scope: null,
    preview: null, replay: null, series: null, versions: [], devices: [], message: null,
    applying: false,
  };
}

function copy(value) {
  return JSON.parse(JSON.stringify(value ?? {}));
}

function say(text, kind = 'ok') {
  if (!cfg) return; // logged out meanwhile
  cfg.message = text ? { text, kind } : null;
  renderMessage();
}

function failed(err) {
  if (!(err instanceof ApiError)) throw err;
  say(t('detail.refused', { detail: err.detail }), 'error');
}

// --- loading -------------------------------------------------------------------------------

/** Open the page: load the form's schema and the first village the user may change. */
export async function openConfig() {
  if (!cfg) cfg = fresh();
  if (!parts) build();
  if (cfg.form) return;
  mount(parts.form, h('p', { class: 'muted' }, t('cfg.loading')));
  const form = await api('/api/config/village/schema').catch(failed);
  if (!form || !cfg) return;
  cfg.form = form;
  if (form.villages.length === 0) {
    mount(parts.form, h('p', { class: 'muted', 'data-testid': 'cfg-none' }, t('cfg.none')));
    return;
  }
  await loadVillage(form.villages[0].id);
}

async function loadVillage(village) {
  clearTimeout(checkTimer);
  asked += 1; // a check of the text before is no longer wanted
  const [file, versions, devices] = await Promise.all([
    api(`/api/config/villages/${encodeURIComponent(village)}/file`),
    api(`/api/config/villages/${encodeURIComponent(village)}/versions`),
    api('/api/devices'), // the page's own list: the overview's may not have arrived yet
  ]).catch((err) => { failed(err); return [null, null, null]; });
  if (!file || !cfg) return;
  Object.assign(cfg, { village, file, versions: versions.versions, devices, detect: copy(file.detect),
    text: file.text, preview: null, replay: null, series: null, applying: false,
    mode: file.detect ? cfg.mode : 'yaml' });
  const mine = villageDevices();
  if (!cfg.scope || !scopeExists(cfg.scope)) {
    const configured = Object.keys(file.detect?.devices ?? {}).find((d) => mine.some((x) => x.id === d));
    cfg.scope = `devices:${configured ?? mine[0]?.id ?? ''}`;
  }
  renderConfig();
  if (file.issues.length) showIssues(file.issues);
  else check();
  loadSeries();
}

function villageDevices() {
  return (cfg.devices ?? []).filter((d) => d.village === cfg.village);
}

function scopeExists(scope) {
  const [part, name] = scope.split(':');
  return villageDevices().some((d) => (part === 'devices' ? d.id : d.kind) === name);
}

function scopeDevice() {
  const [part, name] = cfg.scope.split(':');
  return part === 'devices' ? villageDevices().find((d) => d.id === name) : null;
}

// --- the working text, checked as it changes ---------------------------------------------------

function compose() {
  cfg.text = sameSettings(cfg.detect, cfg.file.detect) ? cfg.file.text
    : spliceDetect(cfg.text, detectYaml(cfg.detect));
}

function changed() {
  if (cfg.mode === 'form') compose();
  cfg.replay = null; // replayed on the text before: no longer what the page shows
  cfg.preview = null;
  if (cfg.message?.kind === 'error') say('');
  renderStatus();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, CHECK_AFTER_MS);
}

async function check() {
  const mine = ++asked;
  const text = cfg.text;
  const preview = await post(`/api/config/villages/${encodeURIComponent(cfg.village)}/preview`, { text }).catch(failed);
  if (!preview || mine !== asked || !cfg) return null;
  cfg.preview = preview;
  if (preview.ok && cfg.mode === 'yaml') cfg.detect = copy(preview.detect);
  showIssues(preview.issues);
  renderChart();
  return preview;
}

function showIssues(issues) {
  const left = cfg.mode === 'form' ? placeIssues(parts.form, issues) : issues;
  mount(parts.issues, left.map((i) => h('li', { 'data-testid': 'cfg-issue' },
    i.line ? h('span', { class: 'muted' }, `${t('cfg.line', { line: i.line })} · `) : null, sayIssue(i.message))));
  renderStatus();
}

// --- rendering -------------------------------------------------------------------------------

function build() {
  const root = byId('config-body');
  parts = {
    head: h('div', { class: 'cfg-head' }),
    message: h('p', { class: 'act-msg', 'data-testid': 'cfg-message', role: 'status' }),
    status: h('p', { class: 'cfg-status muted', 'data-testid': 'cfg-status' }),
    issues: h('ul', { class: 'cfg-issues' }),
    form: h('div', { class: 'cfg-form', 'data-testid': 'cfg-form' }),
    chart: h('section', { class: 'cfg-chart', 'data-testid': 'cfg-chart' }),
    apply: h('section', { class: 'cfg-apply', 'data-testid': 'cfg-apply-panel' }),
    versions: h('section', { class: 'cfg-versions' }),
  };
  mount(root,
    h('div', { class: 'cfg-main' }, parts.head, parts.message, parts.status, parts.issues, parts.form),
    h('div', { class: 'cfg-side' }, parts.chart, parts.apply, parts.versions));
}

function renderHead() {
  const devices = villageDevices();
  const kinds = [...new Set(devices.map((d) => d.kind))];
  const modeButton = (mode) => h('button', {
    type: 'button', class: `small${cfg.mode === mode ? ' active' : ''}`, 'data-testid': `cfg-mode-${mode}`,
    'aria-pressed': String(cfg.mode === mode), onclick: () => switchMode(mode),
  }, t(`cfg.mode.${mode}`));
  mount(parts.head,
    h('label', { class: 'field' }, h('span', {}, t('cfg.village')),
      h('select', { 'data-testid': 'cfg-village', onchange: (ev) => loadVillage(ev.target.value) },
        cfg.form.villages.map((v) => h('option', { value: v.id, selected: v.id === cfg.village }, v.name)))),
    h('label', { class: 'field' }, h('span', {}, t('cfg.scope')),
      h('select', { 'data-testid': 'cfg-scope', disabled: cfg.mode !== 'form',
        onchange: (ev) => { cfg.scope = ev.target.value; cfg.replay = null; renderConfig(); loadSeries(); } },
      h('optgroup', { label: t('cfg.scope.devices') },
        devices.map((d) => h('option', { value: `devices:${d.id}`, selected: cfg.scope === `devices:${d.id}` }, `${d.name || d.id} (${d.id})`))),
      h('optgroup', { label: t('cfg.scope.kinds') },
        kinds.map((k) => h('option', { value: `kinds:${k}`, selected: cfg.scope === `kinds:${k}` }, t(`kind.${k}`)))))),
    h('div', { class: 'cfg-modes' }, modeButton('form'), modeButton('yaml')),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'primary', 'data-testid': 'cfg-apply', onclick: openApply }, t('cfg.apply')));
}

function renderForm() {
  if (cfg.mode === 'yaml') {
    mount(parts.form, h('textarea', {
      class: 'cfg-yaml', 'data-testid': 'cfg-yaml', spellcheck: 'false',
      oninput: (ev) => { cfg.text = ev.target.value; changed(); },
    }, cfg.text));
    return;
  }
  const [part, name] = cfg.scope.split(':');
  cfg.detect[part] ??= {};
  const families = cfg.detect[part][name] ?? {};
  const onChange = () => {
    if (Object.keys(families).length) cfg.detect[part][name] = families;
    else delete cfg.detect[part][name];
    changed();
    renderChart();
  };
  mount(parts.form, familiesForm(cfg.form.village_schema, families, `detect.${part}.${name}`, onChange, renderForm));
  if (cfg.preview) showIssues(cfg.preview.issues);
}

async function switchMode(mode) {
  if (mode === cfg.mode) return;
  if (mode === 'form') {
    const preview = cfg.preview ?? await check();
    if (!preview?.ok) { say(t('cfg.problems', { n: preview?.issues.length ?? 1 }), 'error'); return; }
    cfg.detect = copy(preview.detect);
  }
  cfg.mode = mode;
  renderConfig();
}

function renderStatus() {
  if (!parts || !cfg?.file) return;
  const p = cfg.preview;
  parts.status.textContent = !p ? t('cfg.checking')
    : !p.ok ? t('cfg.problems', { n: p.issues.length })
      : p.diff ? t('cfg.valid') : t('cfg.unchanged');
  parts.status.dataset.state = !p ? 'checking' : p.ok ? 'ok' : 'problems';
}

function renderMessage() {
  if (!parts) return;
  parts.message.textContent = cfg.message?.text ?? '';
  parts.message.className = `act-msg ${cfg.message?.kind ?? ''}`;
}

/** Redraw the whole page (after a language switch, a village or scope change). */
export function renderConfig() {
  if (!cfg?.file || !parts) return;
  renderHead();
  renderForm();
  renderStatus();
  renderMessage();
  renderChart();
  renderApply();
  renderVersions();
}

// --- the chart: thresholds in use and changed, and the replay's alerts -------------------------

async function loadSeries() {
  const device = scopeDevice();
  const series = device ? await fetchSeries(cfg.village, device, cfg.file.detect) : null;
  if (!cfg) return;
  cfg.series = series;
  renderChart();
}

function renderChart() {
  if (!parts || !cfg?.file) return;
  const device = scopeDevice();
  const series = cfg.series;
  if (!device || !series || series.device !== device.id) { mount(parts.chart); return; }
  mount(parts.chart, chartPanel({
    village: cfg.village, device, series, current: cfg.file.detect, candidate: cfg.detect,
    report: cfg.replay?.device === device.id ? cfg.replay.report : null,
    onReplay: () => replay(device, series),
  }));
}

async function replay(device, series) {
  try {
    const answer = await replayOn(cfg.village, device, series, cfg.text);
    if (!cfg) return;
    if (!answer.ok) showIssues(answer.issues);
    else cfg.replay = { device: device.id, report: answer.report };
  } catch (err) {
    failed(err);
  }
  renderChart();
}

// --- applying and the versions ---------------------------------------------------------------

async function openApply() {
  const preview = cfg.preview ?? await check();
  if (!preview) return;
  if (!preview.ok) { say(t('cfg.problems', { n: preview.issues.length }), 'error'); return; }
  if (!preview.diff) { say(t('cfg.apply.nochange'), 'error'); return; }
  cfg.applying = true;
  say('');
  renderApply();
  parts.apply.querySelector('input')?.focus();
}

function renderApply() {
  if (!cfg.applying || !cfg.preview?.diff) { mount(parts.apply); return; }
  const note = h('input', { type: 'text', maxlength: 500, 'data-testid': 'cfg-note', required: true });
  const error = h('p', { class: 'cfg-error', 'data-testid': 'field-error', role: 'alert' });
  mount(parts.apply,
    h('h3', {}, t('cfg.apply.title')),
    h('h4', {}, t('cfg.diff')),
    h('pre', { class: 'cfg-diff', 'data-testid': 'cfg-diff' }, cfg.preview.diff.split('\n').map((line) =>
      h('span', { class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '' }, `${line}\n`))),
    h('label', { class: 'field' }, h('span', {}, t('cfg.apply.note')), note),
    error,
    h('div', { class: 'cfg-buttons' },
      h('button', { type: 'button', class: 'primary', 'data-testid': 'cfg-apply-confirm', onclick: () => apply(note, error) }, t('cfg.apply.confirm')),
      h('button', { type: 'button', class: 'quiet', onclick: () => { cfg.applying = false; renderApply(); } }, t('cfg.apply.cancel'))));
}

async function apply(note, error) {
  if (!note.value.trim()) { error.textContent = t('cfg.apply.nonote'); note.focus(); return; }
  const done = await api(`/api/config/villages/${encodeURIComponent(cfg.village)}`, {
    method: 'PUT', body: { text: cfg.text, note: note.value.trim() },
  }).catch(failed);
  if (!done || !cfg) return;
  if (!done.ok) { cfg.applying = false; renderApply(); showIssues(done.issues); return; }
  await loadVillage(cfg.village);
  say(t('cfg.applied', { n: done.version }));
}

function renderVersions() {
  mount(parts.versions,
    h('h3', {}, t('cfg.versions')),
    cfg.versions.length === 0 ? h('p', { class: 'muted' }, t('cfg.versions.none'))
      : h('ol', { class: 'cfg-version-list' }, cfg.versions.map(versionRow)));
}

function versionRow(v) {
  const row = h('li', { 'data-testid': 'cfg-version', 'data-n': v.number },
    h('strong', {}, t('cfg.version.n', { n: v.number })), ' · ', v.who, ' · ',
    h('span', { title: fullTime(v.at_ms) }, when(v.at_ms)), ' · ', h('span', { class: 'cfg-why' }, v.note),
    v.rollback_of ? h('span', { class: 'muted' }, ` (${t('cfg.version.rollbackof', { n: v.rollback_of })})`) : null);
  if (v.number !== cfg.versions[0].number) {
    const note = h('input', { type: 'text', maxlength: 500, placeholder: t('cfg.apply.note'), 'data-testid': 'cfg-rollback-note' });
    const error = h('span', { class: 'cfg-error', role: 'alert' });
    row.append(h('div', { class: 'cfg-rollback' }, note,
      h('button', { type: 'button', class: 'small', 'data-testid': 'cfg-rollback', onclick: () => rollback(v.number, note, error) },
        t('cfg.version.rollback')), error));
  }
  return row;
}

async function rollback(n, note, error) {
  if (!note.value.trim()) { error.textContent = t('cfg.apply.nonote'); return; }
  const done = await post(`/api/config/villages/${encodeURIComponent(cfg.village)}/versions/${n}/rollback`,
    { note: note.value.trim() }).catch(failed);
  if (!done || !cfg) return;
  if (!done.ok) { showIssues(done.issues); return; }
  await loadVillage(cfg.village);
  say(t('cfg.rolledback', { n }));
}

/** Forget everything (at logout). */
export function resetConfig() {
  clearTimeout(checkTimer);
  cfg = null;
  parts = null;
  const root = document.getElementById('config-body');
  if (root) root.replaceChildren();
}
