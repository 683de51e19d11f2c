// The console's wiring: login, header, views, loading data, the live stream and the #alert/<id> link.

import { ApiError, api, login, onUnauthorized, post, query } from './api.js';
import { openAssessment, renderAssessment, resetAssessment } from './assessment.js';
import { openConfig, renderConfig, resetConfig } from './config.js';
import { openDeadLetters, renderDeadLetters, resetDeadLetters } from './deadletters.js';
import { alertChanged, closeDetail, openDetail, redrawDetail } from './detail.js';
import { renderDevices } from './devices.js';
import { byId } from './dom.js';
import { markFresh, renderFeed } from './feed.js';
import { clock } from './format.js';
import { lang, onLangChange, setLang, t, translate } from './i18n.js';
import { redrawLink, showLink } from './linkbanner.js';
import { renderPlan, resetPlan } from './plan.js';
import { openRegistry, renderRegistry, resetRegistry } from './registry.js';
import { forget, keep, may, session } from './session.js';
import { armAudio, ring, rings, setSound, soundOn } from './sound.js';
import { OPEN_STATES, emit, isOpen, on, state, upsert } from './state.js';
import { openStream } from './stream.js';
import { closeWall, initWall, openWall } from './wall.js';
import { closeZones, openZones, renderZones, resetZones } from './zones.js';

const DEVICES_EVERY_MS = 30000;
const TICK_MS = 1000;
const LIST_LIMIT = 200;

let stream = null;
let timers = [];
let devicesSoon = null;
let view = 'overview';
let liveStatus = 'connecting';
const arrivals = new Map(); // alert id -> when the stream last brought it (ms)

// --- small helpers -----------------------------------------------------------------------

function toast(text) {
  const el = byId('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function failed(err) {
  if (!(err instanceof ApiError)) throw err;
  if (err.status === 401) return; // the login form is showing already
  toast(err.status === 0
    ? t('error.network', { detail: err.detail })
    : t('error.http', { status: err.status, detail: err.detail }));
}

// --- loading -------------------------------------------------------------------------------

async function loadAlerts() {
  const asked = Date.now();
  const list = await api(`/api/alerts${query({
    state: state.filter === 'open' ? OPEN_STATES : [], limit: LIST_LIMIT,
  })}`).catch(failed);
  if (!list) return;
  const before = state.alerts;
  state.alerts = new Map(list.map((a) => [a.id, a]));
  for (const [id, a] of before) {
    // keep what the stream brought while the list was on its way
    if ((arrivals.get(id) ?? 0) >= asked) upsert(a);
  }
  state.loaded = true;
  emit('alerts');
}

async function loadDevices() {
  const list = await api('/api/devices').catch(failed);
  if (!list) return;
  state.devices = list;
  emit('devices');
}

async function loadPlaces() {
  const list = await api('/api/places').catch(failed);
  if (!list) return;
  state.places = list;
  emit('devices');
}

function devicesLater() {
  clearTimeout(devicesSoon);
  devicesSoon = setTimeout(loadDevices, 1500);
}

// --- the live stream -----------------------------------------------------------------------

function showLive(status, heard) {
  liveStatus = status;
  const el = byId('live');
  el.dataset.status = status;
  byId('live-text').textContent = t(`live.${status}`);
  showLink(status, heard);
}

function onStreamEvent(ev) {
  if (ev.event === 'hello') {
    if (!ev.resumed || !state.loaded) loadAlerts();
    if (ev.resumed) devicesLater(); // back after a break: the greyed devices are old
    if (!ev.resumed) emit('resync');
    return;
  }
  if (ev.event === 'reload') {
    loadAlerts();
    emit('resync');
    devicesLater();
    return;
  }
  if (ev.event !== 'alert') return;
  const a = JSON.parse(ev.data);
  arrivals.set(a.id, Date.now());
  const before = upsert(a);
  if (before === null) return; // older than what we have
  emit('alert', a);
  if (before === undefined) markFresh(a.id);
  const newlyRed = a.severity === 'red' && isOpen(a) && a.state !== 'acknowledged'
    && (!before || before.severity !== 'red' || !isOpen(before));
  if (newlyRed && ring()) byId('sound-toggle').dataset.rings = String(rings());
  emit('alerts');
  alertChanged(a);
  devicesLater();
}

// One drawing of the feed a frame, however many changes the stream brought since the last
// (20 alerts a second on the wall would otherwise redraw it 20 times).
let feedFrame = 0;
function feedSoon() {
  feedFrame ||= requestAnimationFrame(() => {
    feedFrame = 0;
    renderFeed();
  });
}

// --- header and views ------------------------------------------------------------------------

function renderHeader() {
  const s = session();
  const who = byId('who');
  who.textContent = s ? `${s.user} · ${t(`role.${s.role}`)}` : '';
  who.dataset.role = s?.role ?? '';
  byId('sound-toggle').textContent = t(soundOn() ? 'sound.on' : 'sound.off');
  byId('sound-toggle').setAttribute('aria-pressed', String(soundOn()));
  byId('big-toggle').textContent = t(state.big ? 'big.off' : 'big.on');
  byId('big-toggle').setAttribute('aria-pressed', String(state.big));
  byId('feed-filter').value = state.filter;
  for (const tab of document.querySelectorAll('.tab')) {
    if (tab.dataset.least) tab.hidden = !may(tab.dataset.least);
    tab.classList.toggle('active', tab.dataset.view === view);
    tab.setAttribute('aria-current', tab.dataset.view === view ? 'page' : 'false');
  }
  showLive(liveStatus);
}

function tick() {
  byId('clock').textContent = clock();
}

function showView(name) {
  // a view whose tab needs a role the user lacks (data-least) is not theirs: the overview
  const least = document.querySelector(`.tab[data-view="${name}"]`)?.dataset.least;
  view = state.big || (least && !may(least)) ? 'overview' : name;
  for (const v of ['overview', 'registry', 'config', 'zones', 'assessment', 'deadletters']) byId(v).hidden = view !== v;
  if (view === 'registry') openRegistry();
  if (view === 'config') openConfig();
  if (view === 'zones') openZones();
  else closeZones();
  if (view === 'assessment') openAssessment();
  if (view === 'deadletters') openDeadLetters();
  renderHeader();
}

function setBig(on) {
  state.big = on;
  document.body.classList.toggle('big', on);
  const url = new URL(location.href);
  if (on) url.searchParams.set('big', '1');
  else url.searchParams.delete('big');
  history.replaceState(null, '', url);
  showView(view);
  renderPlan();
  if (on) openWall();
  else closeWall();
}

function renderAll() {
  renderHeader();
  renderFeed();
  renderPlan();
  renderDevices();
  if (view === 'registry') renderRegistry();
  if (view === 'config') renderConfig();
  if (view === 'zones') renderZones();
  if (view === 'assessment') renderAssessment();
  if (view === 'deadletters') renderDeadLetters();
  redrawDetail();
  redrawLink();
  tick();
}

function route() {
  const m = /^#alert\/(\d+)$/.exec(location.hash);
  if (m) openDetail(Number(m[1]));
  else if (state.selected !== null) closeDetail();
}

// --- session ---------------------------------------------------------------------------------

function start() {
  byId('login').hidden = true;
  byId('app').hidden = false;
  showView('overview');
  renderFeed();
  renderPlan();
  renderDevices();
  loadPlaces();
  loadDevices();
  loadAlerts(); // again on the stream's hello, so nothing between the two is missed
  if (state.big) openWall();
  stream = openStream({ onEvent: onStreamEvent, onStatus: showLive, onUnauthorized: () => stop('login.expired') });
  timers = [
    setInterval(loadDevices, DEVICES_EVERY_MS),
    setInterval(tick, TICK_MS),
    setInterval(renderFeed, 30000), // the "5 min ago"s
  ];
  tick();
  route();
}

function stop(reasonKey) {
  stream?.stop();
  stream = null;
  closeWall();
  for (const timer of timers) clearInterval(timer);
  timers = [];
  clearTimeout(devicesSoon);
  forget();
  closeDetail();
  resetRegistry();
  resetConfig();
  resetZones();
  resetAssessment();
  resetDeadLetters();
  resetPlan();
  Object.assign(state, { alerts: new Map(), devices: [], places: [], loaded: false });
  arrivals.clear();
  showLive('connecting');
  byId('app').hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = reasonKey ? t(reasonKey) : '';
  byId('login-user').focus();
}

async function submitLogin(ev) {
  ev.preventDefault();
  const button = byId('login-form').querySelector('button[type=submit]');
  const error = byId('login-error');
  button.disabled = true;
  button.textContent = t('login.busy');
  error.textContent = '';
  try {
    forget();
    keep(await login(byId('login-user').value.trim(), byId('login-password').value),
      byId('login-remember').checked);
    byId('login-password').value = '';
    start();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    error.textContent = err.status === 401 ? t('login.failed')
      : err.status === 0 ? t('login.offline', { detail: err.detail }) : err.detail;
  } finally {
    button.disabled = false;
    button.textContent = t('login.submit');
  }
}

async function logout() {
  await post('/api/auth/logout').catch(() => {}); // the session ends here either way
  stop();
}

// --- start ---------------------------------------------------------------------------------

function boot() {
  translate();
  armAudio();
  state.big = new URLSearchParams(location.search).get('big') === '1';
  document.body.classList.toggle('big', state.big);

  byId('login-form').addEventListener('submit', submitLogin);
  const toggleLang = () => setLang(lang() === 'zh' ? 'en' : 'zh');
  byId('login-lang').addEventListener('click', toggleLang);
  byId('lang-toggle').addEventListener('click', toggleLang);
  byId('big-toggle').addEventListener('click', () => setBig(!state.big));
  byId('sound-toggle').addEventListener('click', () => { setSound(!soundOn()); renderHeader(); });
  byId('logout').addEventListener('click', logout);
  byId('feed-filter').addEventListener('change', (ev) => {
    state.filter = ev.target.value;
    renderFeed();
    loadAlerts();
  });
  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', () => showView(tab.dataset.view));
  }
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.selected !== null) {
      history.replaceState(null, '', location.pathname + location.search);
      closeDetail();
    }
  });
  window.addEventListener('hashchange', () => { if (session()) route(); });

  initWall();
  onUnauthorized(() => stop('login.expired'));
  onLangChange(renderAll);
  on('alerts', feedSoon);
  on('devices', () => { renderPlan(); renderDevices(); renderZones(); });

  if (session()) start();
  else stop();
}

boot();
