// Times, ages and values as people read them, in the current language.

import { locale, t } from './i18n.js';

const UNITS = { level_cm: 'cm', mm: 'mm', battery: '%', fps: 'fps' };
const formats = new Map(); // locale + options -> Intl formatter

/**
 * An Intl formatter for the current language, made once: making one costs far more than
 * using it, and a feed of hundreds of alerts redrawn at 20 alerts a second uses thousands.
 */
export function dateFormat(opts) {
  const key = `${locale()}|${JSON.stringify(opts)}`;
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(locale(), opts));
  return formats.get(key);
}

function numberFormat(digits) {
  const key = `${locale()}|n${digits}`;
  if (!formats.has(key)) formats.set(key, new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }));
  return formats.get(key);
}

/** A time: HH:MM:SS today, else MM-DD HH:MM (and the year when it is not this year's). */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const opts = sameDay
    ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
    : { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return dateFormat(opts).format(d);
}

/** A full date and time, for titles. */
export function fullTime(iso) {
  if (!iso) return '';
  return dateFormat({
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(new Date(iso));
}

/** How long ago: 刚刚, 5 分钟前 … */
export function ago(iso, now = Date.now()) {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 10) return t('time.just');
  if (s < 60) return t('time.s', { n: s });
  if (s < 3600) return t('time.m', { n: Math.floor(s / 60) });
  if (s < 86400) return t('time.h', { n: Math.floor(s / 3600) });
  return t('time.d', { n: Math.floor(s / 86400) });
}

/** A metric's unit, or ''. */
export function unit(metric) {
  return UNITS[metric] ?? '';
}

/** A number with at most `digits` decimals. */
export function num(value, digits = 1) {
  return numberFormat(digits).format(value);
}

/** "水位 132 cm" for one metric's value. */
export function reading(metric, value) {
  const name = t(`metric.${metric}`);
  const label = name === `metric.${metric}` ? metric : name;
  const u = unit(metric);
  return `${label} ${num(value)}${u ? ` ${u}` : ''}`;
}
