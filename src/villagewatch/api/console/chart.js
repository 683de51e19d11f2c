// A hand-drawn SVG chart of a downsampled series: the min–max band, the mean line, time and
// value axes, a marker at the alert's start, and (for the config page) threshold lines and
// marks at moments such as a replay's would-be alerts.

import { s } from './dom.js';
import { locale, t } from './i18n.js';
import { num } from './format.js';

const W = 640;
const H = 220;
const PAD = { left: 48, right: 14, top: 14, bottom: 26 };
const HOUR = 3600e3;

function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= raw);
  return step ?? 10 * power;
}

function timeTicks(from, to) {
  const span = to - from;
  const step = [0.25, 0.5, 1, 2, 3, 6, 12, 24].map((h) => h * HOUR).find((m) => span / m <= 8) ?? 24 * HOUR;
  const offset = new Date(from).getTimezoneOffset() * 60e3; // ticks on local hour boundaries
  const ticks = [];
  for (let x = Math.ceil((from - offset) / step) * step + offset; x <= to; x += step) ticks.push(x);
  return ticks;
}

/**
 * The chart as an <svg>: `buckets` [{start, mean, min, max, count}] between `since` and
 * `until` (ms) cut into `slices`, a marker line at `marker` (ms), horizontal `lines`
 * [{value, kind, label, side}] (kept in view) and vertical `marks` [{at, kind, label}]; `kind`
 * becomes a class for their colour.
 */
export function drawChart(buckets, { since, until, slices, marker, lines = [], marks = [] }) {
  const points = buckets.map((b) => ({ x: new Date(b.start).getTime(), ...b }));
  const step = (until - since) / slices; // one bucket's width, as the server cut them
  let lo = Math.min(...points.map((p) => p.min), ...lines.map((l) => l.value));
  let hi = Math.max(...points.map((p) => p.max), ...lines.map((l) => l.value));
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const yStep = niceStep(hi - lo, 4);
  lo = Math.floor(lo / yStep) * yStep;
  hi = Math.ceil(hi / yStep) * yStep;
  const X = (ms) => PAD.left + ((ms - since) / (until - since)) * (W - PAD.left - PAD.right);
  const Y = (v) => H - PAD.bottom - ((v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const mid = (p) => p.x + step / 2;

  // Runs of consecutive buckets: a gap of more than two slices breaks the line.
  const runs = [];
  for (const p of points) {
    const run = runs.at(-1);
    if (run && p.x - run.at(-1).x <= 2.5 * step) run.push(p);
    else runs.push([p]);
  }
  const line = (run) => run.map((p, i) => `${i ? 'L' : 'M'}${X(mid(p)).toFixed(1)},${Y(p.mean).toFixed(1)}`).join('');
  const band = (run) => [
    ...run.map((p, i) => `${i ? 'L' : 'M'}${X(mid(p)).toFixed(1)},${Y(p.max).toFixed(1)}`),
    ...[...run].reverse().map((p) => `L${X(mid(p)).toFixed(1)},${Y(p.min).toFixed(1)}`),
    'Z',
  ].join('');

  const yTicks = [];
  for (let v = lo; v <= hi + yStep / 2; v += yStep) yTicks.push(v);
  const hourFmt = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', hour12: false });
  const markX = X(marker);
  const labelLeft = markX > W - PAD.right - 90; // near the right edge: the label goes left of the line

  return s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'data-testid': 'chart', 'aria-label': t('detail.chart') },
    yTicks.map((v) => s('g', { class: 'tick' },
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: Y(v), y2: Y(v) }),
      s('text', { x: PAD.left - 6, y: Y(v) + 4, 'text-anchor': 'end' }, num(v)))),
    timeTicks(since, until).map((x) => s('g', { class: 'tick' },
      s('line', { x1: X(x), x2: X(x), y1: PAD.top, y2: H - PAD.bottom }),
      s('text', { x: X(x), y: H - 8, 'text-anchor': 'middle' }, hourFmt.format(new Date(x))))),
    runs.map((run) => s('path', { class: 'band', d: band(run) })),
    runs.map((run) => s('path', { class: 'mean', d: line(run) })),
    runs.filter((run) => run.length === 1)
      .map(([p]) => s('circle', { class: 'lone', cx: X(mid(p)), cy: Y(p.mean), r: 2.5 })),
    marker >= since && marker <= until
      ? s('g', { class: 'marker' },
        s('line', { x1: markX, x2: markX, y1: PAD.top - 4, y2: H - PAD.bottom }),
        s('text', { x: markX + (labelLeft ? -4 : 4), y: PAD.top + 6, 'text-anchor': labelLeft ? 'end' : 'start' },
          t('detail.alertstart')))
      : null,
    lines.map((l) => s('g', { class: `level ${l.kind}`, 'data-testid': 'chart-line', 'data-kind': l.kind, 'data-value': l.value },
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: Y(l.value), y2: Y(l.value) }),
      l.side === 'left'
        ? s('text', { x: PAD.left + 4, y: Y(l.value) - 3, 'text-anchor': 'start' }, l.label)
        : s('text', { x: W - PAD.right - 2, y: Y(l.value) - 3, 'text-anchor': 'end' }, l.label))),
    marks.filter((m) => m.at >= since && m.at <= until).map((m) => s('g', { class: `mark ${m.kind}`, 'data-testid': 'chart-mark', 'data-kind': m.kind },
      s('line', { x1: X(m.at), x2: X(m.at), y1: PAD.top, y2: H - PAD.bottom }),
      s('title', {}, m.label))),
  );
}
