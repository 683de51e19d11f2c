// Times, ages and values as people read them, in the current language and the reader's
// locale: every date and time the console shows goes through here.

import { lang, t } from './i18n.js';

const UNITS = { level_cm: 'cm', mm: 'mm', battery: '%', fps: 'fps' };
const DAY_MS = 86400e3;

/**
 * The locale dates are written in: Chinese for the Chinese UI; for the English UI the
 * reader's own English (en-US writes month/day, en-GB day/month), else en-US.
 */
export function dateLocale() {
  if (lang() === 'zh') return 'zh-CN';
  const english = (navigator.languages ?? [navigator.language]).find((l) => /^en(-|$)/i.test(l ?? ''));
  return english ?? 'en-US';
}

const formats = new Map(); // "locale|kind|options" -> Intl formatter

/**
 * An Intl formatter of the reader's locale, made once: making one costs far more than using
 * it, and a feed of hundreds of alerts redrawn at 20 alerts a second uses thousands.
 */
function cached(kind, options, make) {
  const key = `${dateLocale()}|${kind}|${JSON.stringify(options)}`;
  if (!formats.has(key)) formats.set(key, make(dateLocale(), options));
  return formats.get(key);
}

/** A date and time format of the reader's locale (24-hour clock). */
export function dateFormat(options) {
  return cached('date', options, (loc, o) => new Intl.DateTimeFormat(loc, { hourCycle: 'h23', ...o }));
}

const fmt = dateFormat;

const CLOCK = { hour: '2-digit', minute: '2-digit', second: '2-digit' };
const SHORT = { hour: '2-digit', minute: '2-digit' };

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/**
 * A time as a list shows it: 14:03:07 today; yesterday's as "yesterday 14:03" (昨天 14:03);
 * older ones with their date (and the year when it is not this year's).
 */
export function when(iso, now = new Date()) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY_MS);
  if (days === 0) return fmt(CLOCK).format(d);
  if (days === 1) {
    const word = cached('relative', {}, (loc) => new Intl.RelativeTimeFormat(loc, { numeric: 'auto' })).format(-1, 'day');
    return `${word} ${fmt(SHORT).format(d)}`;
  }
  const opts = { month: 'short', day: 'numeric', ...SHORT };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return fmt(opts).format(d);
}

/** A full date and time with the time zone, for titles. */
export function fullTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return fmt({ year: 'numeric', month: 'short', day: 'numeric', ...CLOCK, timeZoneName: 'short' }).format(d);
}

/** The header clock: date and time now. */
export function clock(now = new Date()) {
  return fmt({ month: 'short', day: 'numeric', weekday: 'short', ...CLOCK }).format(now);
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
  return cached('number', digits, (loc, d) => new Intl.NumberFormat(loc, { maximumFractionDigits: d })).format(value);
}

/** "水位 132 cm" for one metric's value. */
export function reading(metric, value) {
  const name = t(`metric.${metric}`);
  const label = name === `metric.${metric}` ? metric : name;
  const u = unit(metric);
  return `${label} ${num(value)}${u ? ` ${u}` : ''}`;
}
