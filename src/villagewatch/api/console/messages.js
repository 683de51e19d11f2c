// Alerts in the reader's language: the message from its key and parameters, the kind, the
// detector and the village by the names people know (i18n18). An alert from before keys were
// kept, or with a key this console does not know, shows the text it was stored with.

import { DICTIONARIES, lang } from './i18n.js';
import { state } from './state.js';

function entry(key) {
  return DICTIONARIES[lang()][key] ?? DICTIONARIES.zh[key];
}

/** A place's configured name (grid:dongcun/g1 → 第一网格), or its id when unknown. */
export function placeLabel(id) {
  return state.places.find((p) => p.id === id)?.name || id;
}

/** A village's configured name (东村), or its id when the console does not know it. */
export function placeName(village) {
  const name = placeLabel(`village:${village}`);
  return name === `village:${village}` ? village : name;
}

/** An alert kind's name; a kind with a metric (spike:level_cm) keeps the metric. */
export function kindName(kind) {
  const [base, metric] = String(kind).split(/:(.*)/s);
  const name = entry(`akind.${base}`);
  if (name === undefined) return kind;
  return metric ? `${name} (${metric})` : name;
}

/** A detector's name. */
export function detectorName(detector) {
  return entry(`detector.${detector}`) ?? detector;
}

/** The alert's message in the current language. */
export function alertText(alert) {
  const template = alert.message_key ? entry(`msg.${alert.message_key}`) : undefined;
  if (template === undefined) return alert.message;
  const params = alert.params ?? {};
  return template.replace(/\{(\w+)(?:\|(kind|place))?\}/g, (m, name, how) => {
    if (!(name in params)) return m;
    const value = String(params[name]);
    if (how === 'kind') return kindName(value);
    if (how === 'place') return placeName(value);
    return value;
  });
}

/** What the alert is about by its name: a device's configured name (with a camera's zone),
 * the village's for a village-wide alert, else its id. */
export function subjectName(alert) {
  const [device, zone] = String(alert.subject).split(/:(.*)/s);
  if (device === alert.village) return placeName(device);
  const found = state.devices.find((d) => d.village === alert.village && d.id === device);
  const name = found?.name || device;
  return zone ? `${name} · ${zone}` : name;
}
