// Every piece of UI text, in both languages; t(key) looks one up in the current language.

import { en as baseEn, zh as baseZh } from './basetext.js';
import { en as configEn, zh as configZh } from './configtext.js';
import { en as feedEn, zh as feedZh } from './feedtext.js';
import { en as zonesEn, zh as zonesZh } from './zonestext.js';
import { en as assessEn, zh as assessZh } from './assessmenttext.js';
import { en as deadEn, zh as deadZh } from './deadletterstext.js';
import { en as alertEn, zh as alertZh } from './alerttext.js';
import { en as chartEn, zh as chartZh } from './charttext.js';
import { en as wallEn, zh as wallZh } from './walltext.js';

const zh = {
  ...baseZh,
  ...configZh,
  ...chartZh,
  ...zonesZh,
  ...assessZh,
  ...deadZh,
  ...alertZh,
  ...wallZh,
  ...feedZh,
};

const en = {
  ...baseEn,
  ...configEn,
  ...chartEn,
  ...zonesEn,
  ...assessEn,
  ...deadEn,
  ...alertEn,
  ...wallEn,
  ...feedEn,
};

export const DICTIONARIES = { zh, en };

const STORAGE_KEY = 'villagewatch.lang';
const listeners = [];

function initial() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'zh' || saved === 'en') return saved;
  return (navigator.language || 'zh').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let current = initial();

/** The current language: 'zh' or 'en'. */
export function lang() {
  return current;
}

/** A BCP 47 tag for Intl formatting. */
export function locale() {
  return current === 'zh' ? 'zh-CN' : 'en-GB';
}

/** The text for `key`, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = DICTIONARIES[current][key] ?? DICTIONARIES.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Fill the static text of `root`: data-i18n (text), data-i18n-ph (placeholder), data-i18n-title. */
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  document.documentElement.lang = locale();
  document.title = t('app.title');
}

/** Switch language, remember it, and tell every listener to redraw. */
export function setLang(value) {
  current = value === 'en' ? 'en' : 'zh';
  localStorage.setItem(STORAGE_KEY, current);
  translate();
  for (const fn of listeners) fn(current);
}

/** Call `fn` after each language switch. */
export function onLangChange(fn) {
  listeners.push(fn);
}
