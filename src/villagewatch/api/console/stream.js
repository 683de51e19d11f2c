// The live alert feed: Server-Sent Events read with fetch(), because EventSource cannot send
// the Authorization header. Reconnects with capped, jittered backoff (1 s … 10 s) and sends
// Last-Event-ID so the server replays what was missed. Says how fresh the link is: 'stale' when
// an open connection has been silent past the keepalive, with the time anything last arrived.

import { session } from './session.js';

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 10000;
const SILENCE_MS = 45000; // the server sends a keepalive every 15 s; silence this long: dead link
const STALE_MS = 20000; // a keepalive is overdue: say so long before the link is given up
const WATCH_MS = 1000;

/** Splits a text/event-stream into events {id, event, data}; feed it text as it arrives. */
export class SseParser {
  constructor() {
    this.rest = '';
    this.reset();
  }

  reset() {
    this.id = undefined;
    this.event = '';
    this.data = [];
  }

  /** The events completed by `chunk`. */
  push(chunk) {
    const lines = (this.rest + chunk).split(/\r\n|\r|\n/);
    this.rest = lines.pop(); // an incomplete last line waits for the next chunk
    const out = [];
    for (const line of lines) {
      if (line === '') {
        if (this.data.length || this.event || this.id !== undefined) {
          out.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
        }
        this.reset();
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (keepalive)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });

/**
 * Read /api/alerts/stream until stop() is called.
 * onEvent({id, event, data, resumed}) gets each event; `resumed` is true on a connection that
 * sent Last-Event-ID. onStatus(status, heardMs) tracks the link — 'connecting', 'live', 'stale'
 * (connected, but nothing arrived for STALE_MS) or 'reconnecting' — with when the server was
 * last heard from (performance.now() ms: a system clock set back or forward moves neither the
 * staleness nor the count; the opening time until then). onUnauthorized() is called (and
 * reading stops) when the token is refused.
 */
export function openStream({ onEvent, onStatus, onUnauthorized }) {
  const stopper = new AbortController();
  let lastId = null;
  let delay = MIN_DELAY_MS;
  let heard = performance.now();
  let status = 'connecting';
  const tell = (next) => {
    status = next;
    onStatus(status, heard);
  };
  const watch = setInterval(() => {
    if (status === 'live' && performance.now() - heard > STALE_MS) tell('stale');
  }, WATCH_MS);
  stopper.signal.addEventListener('abort', () => clearInterval(watch), { once: true });

  async function once() {
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    stopper.signal.addEventListener('abort', abort, { once: true });
    let watchdog = setTimeout(abort, SILENCE_MS);
    const resumed = lastId !== null;
    try {
      const s = session();
      if (!s) return 'unauthorized';
      const res = await fetch('/api/alerts/stream', {
        headers: {
          Authorization: `Bearer ${s.token}`,
          Accept: 'text/event-stream',
          ...(resumed ? { 'Last-Event-ID': lastId } : {}),
        },
        cache: 'no-store',
        signal: attempt.signal,
      });
      if (res.status === 401) return 'unauthorized';
      if (!res.ok || !res.body) return 'failed';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'ended';
        clearTimeout(watchdog);
        watchdog = setTimeout(abort, SILENCE_MS);
        heard = performance.now();
        if (status === 'stale') tell('live'); // a late keepalive: the link is back
        for (const ev of parser.push(value)) {
          if (ev.id !== undefined) lastId = ev.id;
          if (ev.event === 'hello') {
            delay = MIN_DELAY_MS;
            tell('live');
          }
          onEvent({ ...ev, resumed });
        }
      }
    } catch {
      return 'failed';
    } finally {
      clearTimeout(watchdog);
      stopper.signal.removeEventListener('abort', abort);
    }
  }

  (async () => {
    tell('connecting');
    while (!stopper.signal.aborted) {
      const outcome = await once();
      if (stopper.signal.aborted) return;
      if (outcome === 'unauthorized') {
        onUnauthorized();
        return;
      }
      tell('reconnecting');
      const jitter = Math.random() * 0.2 * delay;
      await sleep(delay + jitter, stopper.signal);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  })();

  return { stop: () => stopper.abort() };
}
