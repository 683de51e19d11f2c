// A lost or stale live link, impossible to miss: a banner across the page saying how long ago
// the server was last heard from (counting up), and the data greyed (body.link-down) until the
// link is live again. A small pill in the header is not enough at 3 a.m.

import { byId } from './dom.js';
import { t } from './i18n.js';

const TICK_MS = 1000;
const DOWN = new Set(['stale', 'reconnecting']);

let shown = null; // {status, heard} while the banner is up
let timer = null;

/** "42 s", "3 min 05 s", "2 h 07 min": how long since `ms` (performance.now() time). */
export function elapsed(ms, now = performance.now()) {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  if (s < 60) return t('link.s', { s });
  if (s < 3600) return t('link.ms', { m: Math.floor(s / 60), s: pad(s % 60) });
  return t('link.hm', { h: Math.floor(s / 3600), m: pad(Math.floor(s / 60) % 60) });
}

function draw() {
  if (!shown) return;
  byId('link-banner-title').textContent = t(`link.${shown.status}`);
  byId('link-banner-since').textContent = t('link.since', { ago: elapsed(shown.heard) });
}

/** Show the link's state: the banner and the grey while it is 'stale' or 'reconnecting'. */
export function showLink(status, heard) {
  const down = DOWN.has(status);
  document.body.classList.toggle('link-down', down);
  byId('link-banner').hidden = !down;
  if (!down) {
    shown = null;
    clearInterval(timer);
    timer = null;
    return;
  }
  shown = { status, heard: heard ?? shown?.heard ?? performance.now() };
  timer ??= setInterval(draw, TICK_MS);
  draw();
}

/** Redraw in the current language. */
export function redrawLink() {
  draw();
}
