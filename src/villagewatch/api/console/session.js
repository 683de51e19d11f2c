// The logged-in session, kept in sessionStorage (gone when the tab closes).

const KEY = 'villagewatch.session';
const RANK = { viewer: 0, operator: 1, maintainer: 2, admin: 3 };

/** The session {token, expires, user, role, places}, or null. */
export function session() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    return value && typeof value.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** Keep the login answer. */
export function keep(login) {
  sessionStorage.setItem(KEY, JSON.stringify(login));
}

/** Forget the session. */
export function forget() {
  sessionStorage.removeItem(KEY);
}

/** Whether the logged-in user has at least `role`. */
export function may(role) {
  const s = session();
  return s !== null && (RANK[s.role] ?? -1) >= RANK[role];
}
