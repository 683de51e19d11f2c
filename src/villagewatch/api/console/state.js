// What the console knows, shared by its parts, and a tiny publish/subscribe between them.

export const SEVERITIES = ['info', 'blue', 'yellow', 'orange', 'red'];
export const OPEN_STATES = ['pending', 'firing', 'acknowledged'];

export const state = {
  alerts: new Map(), // id -> AlertOut
  devices: [],
  places: [],
  filter: 'open', // 'open' | 'all'
  big: false,
  selected: null, // id of the alert open in the detail panel
  loaded: false, // the first list of alerts has arrived
};

const topics = new Map();

/** Call `fn(data)` on each emit(topic, data). */
export function on(topic, fn) {
  if (!topics.has(topic)) topics.set(topic, []);
  topics.get(topic).push(fn);
}

/** Tell the subscribers of `topic`. */
export function emit(topic, data) {
  for (const fn of topics.get(topic) ?? []) fn(data);
}

/** The severity's rank, 0 (info) … 4 (red). */
export function rank(severity) {
  return SEVERITIES.indexOf(severity);
}

/** Whether the alert still needs someone. */
export function isOpen(alert) {
  return OPEN_STATES.includes(alert.state);
}

/**
 * Put an alert into the known set unless an as-new or newer version is there; the version
 * that was there before (undefined for a new alert), or null when `alert` was older.
 */
export function upsert(alert) {
  const before = state.alerts.get(alert.id);
  if (before && new Date(before.updated) > new Date(alert.updated)) return null;
  state.alerts.set(alert.id, alert);
  return before;
}

/** The newest open alert of a device, if the feed has one. */
export function openAlertOf(village, device) {
  let best = null;
  for (const a of state.alerts.values()) {
    if (a.village !== village || a.subject.split(':')[0] !== device || !isOpen(a)) continue;
    if (!best || rank(a.severity) > rank(best.severity) || (a.severity === best.severity && a.id > best.id)) {
      best = a;
    }
  }
  return best;
}
