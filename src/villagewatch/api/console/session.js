// The logged-in session: kept for the tab (sessionStorage, gone when it closes), or — when the
// user asked to stay signed in on this device — for every tab until the login expires
// (localStorage; api.token_ttl_s, 12 h by default), so a link from a DingTalk or WeCom message
// opens without a second login.

const KEY = 'villagewatch.session';
const RANK = { viewer: 0, operator: 1, maintainer: 2, admin: 3 };

/** The session {token, expires, user, role, places}, or null. */
export function session() {
  for (const store of [sessionStorage, localStorage]) {
    try {
      const value = JSON.parse(store.getItem(KEY) ?? 'null');
      if (!value || typeof value.token !== 'string') continue;
      if (Date.parse(value.expires) <= Date.now()) { // a remembered login that ran out
        store.removeItem(KEY);
        continue;
      }
      return value;
    } catch {
      store.removeItem(KEY); // a damaged value: as if signed out
    }
  }
  return null;
}

/** Keep the login answer: for this tab, or on this device (`remember`) until it expires. */
export function keep(login, remember = false) {
  (remember ? localStorage : sessionStorage).setItem(KEY, JSON.stringify(login));
}

/** Forget the session, in this tab and on this device. */
export function forget() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/** Whether the logged-in user has at least `role`. */
export function may(role) {
  const s = session();
  return s !== null && (RANK[s.role] ?? -1) >= RANK[role];
}
