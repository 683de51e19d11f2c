// Calls to the villagewatch API with the session's bearer token.
// A 401 means the token expired: the handler set with onUnauthorized shows the login form.

import { forget, session } from './session.js';

let unauthorized = () => {};

/** What a refused or failed call says: the HTTP status and the server's `detail`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

/** Run `fn` whenever a call is answered 401. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

function headers(extra) {
  const s = session();
  return { ...(s ? { Authorization: `Bearer ${s.token}` } : {}), ...extra };
}

async function detailOf(res) {
  try {
    const body = await res.json();
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg ?? String(d)).join('; ');
    return JSON.stringify(body);
  } catch {
    return res.statusText || `HTTP ${res.status}`;
  }
}

// `body` goes as JSON; `data` (a Blob or File) as its raw bytes.
async function send(path, { method = 'GET', body, data, accept = 'application/json' } = {}) {
  const type = data !== undefined ? 'application/octet-stream'
    : body !== undefined ? 'application/json' : null;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: headers({ Accept: accept, ...(type ? { 'Content-Type': type } : {}) }),
      body: data !== undefined ? data : body !== undefined ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, err.message);
  }
  if (res.status === 401 && session()) {
    forget();
    unauthorized();
  }
  if (!res.ok) throw new ApiError(res.status, await detailOf(res));
  return res;
}

/** GET (or another method with a JSON body) and the JSON answer; null for 204. */
export async function api(path, options) {
  const res = await send(path, options);
  return res.status === 204 ? null : res.json();
}

/** POST a JSON body; the JSON answer. */
export function post(path, body = {}) {
  return api(path, { method: 'POST', body });
}

/** PUT a file's bytes as application/octet-stream; the JSON answer (null for 204). */
export function put(path, file) {
  return api(path, { method: 'PUT', data: file });
}

/** GET a picture (or another file, of the media type `accept`) as a Blob. */
export async function blob(path, accept = 'image/*') {
  const res = await send(path, { accept });
  return res.blob();
}

/** A query string from an object; arrays repeat the key, null/undefined/'' are left out. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item !== null && item !== undefined && item !== '') q.append(k, String(item));
    }
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** Log in: the session answer ({token, expires, user, role, places}). */
export async function login(user, password) {
  return api('/api/auth/login', { method: 'POST', body: { user, password } });
}
