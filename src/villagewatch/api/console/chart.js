// Every chart of the console, on the vendored ECharts (window.echarts, loaded by index.html as
// a classic script before the modules): a downsampled series as its min–max band and mean
// line on a local-time axis, labelled horizontal levels, vertical marks, marked readings, and
// zoom and pan (mouse wheel / pinch and drag inside, a slider below). The canvas is opaque to
// screen readers and tests, so a key beside it lists every level, mark and reading in words.

import { h } from './dom.js';
import { locale, t } from './i18n.js';
import { fullTime, num } from './format.js';

const DAY = 24 * 3600e3;
const COLOURS = {
  red: '#dc2f2a', orange: '#f08a24', yellow: '#f2c230', blue: '#2a72cc', info: '#66717f',
  current: '#9aa3ad', candidate: '#f08a24', today: '#9aa3ad', range: '#8894a3',
  start: '#ff8b85', end: '#5fcf8c', fired: '#ff8b85', now: '#d8dfe7',
};
const SERIES = '#4c9aff';
const TEXT = '#8894a3';
const GRIDLINE = '#232d38';

const live = new Set(); // chart elements with an ECharts instance (or waiting for a size)

function colour(kind) {
  return COLOURS[kind] ?? TEXT;
}

/** Dispose the charts whose element left the page (the panel moved on, a redraw). */
function sweep() {
  for (const el of live) {
    if (el.isConnected) continue;
    el._observer?.disconnect();
    window.echarts.getInstanceByDom(el)?.dispose();
    live.delete(el);
  }
}

function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= raw) ?? 10 * power;
}

function timeLabel(span) {
  const fmt = new Intl.DateTimeFormat(locale(), span > DAY
    ? { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false }
    : { hour: '2-digit', minute: '2-digit', hour12: false });
  return (ms) => fmt.format(new Date(ms));
}

// The band as two stacked series (the floor, then max − min on top) and the mean; a gap of
// more than 2.5 times the usual one (a device reports every few slices when they are short)
// breaks both, as a missing hour must not look like a straight line.
function seriesData(buckets, step) {
  const floor = [];
  const range = [];
  const mean = [];
  const xs = buckets.map((b) => Date.parse(b.start) + step / 2);
  const gaps = xs.slice(1).map((x, i) => x - xs[i]).sort((a, b) => a - b);
  const usual = Math.max(step, gaps.length ? gaps[Math.floor(gaps.length / 2)] : step);
  let last = null;
  for (const [i, b] of buckets.entries()) {
    const x = xs[i];
    if (last !== null && x - last > 2.5 * usual) {
      const gap = last + step;
      floor.push([gap, null]);
      range.push([gap, null]);
      mean.push([gap, null]);
    }
    floor.push([x, b.min]);
    range.push([x, b.max - b.min]);
    mean.push([x, b.mean]);
    last = x;
  }
  return { floor, range, mean };
}

/**
 * The chart's ECharts option: `buckets` [{start, mean, min, max, count}] between `since` and
 * `until` (ms) cut into `slices`; horizontal `lines` [{value, kind, label, dashed, side}] (label
 * left unless `side` is 'right'), vertical
 * `marks` [{at, kind, label}] and `points` [{at, value, kind, label}]; `kind` picks the colour
 * (a severity, or current/candidate/today/start/end/fired/now). Exported for the tests' sake.
 */
export function chartOption(buckets, { since, until, slices, lines = [], marks = [], points = [], name = '' }) {
  const step = (until - since) / slices;
  const { floor, range, mean } = seriesData(buckets, step);
  const values = [...buckets.flatMap((b) => [b.min, b.max]), ...lines.map((l) => l.value),
    ...points.map((p) => p.value)];
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  const pad = Math.max((hi - lo) * 0.06, 1);
  const yStep = niceStep(hi - lo + 2 * pad, 5); // the axis ends on round values
  const label = timeLabel(until - since);
  const inSpan = (at) => at >= since && at <= until;
  return {
    animation: false,
    backgroundColor: 'transparent',
    textStyle: { color: TEXT, fontSize: 12 },
    grid: { left: 8, right: 16, top: 20, bottom: 52, containLabel: true },
    tooltip: {
      trigger: 'axis', renderMode: 'richText', confine: true,
      backgroundColor: '#0a0d12', borderColor: '#344150', textStyle: { color: '#d8dfe7' },
      formatter: (items) => {
        const item = [].concat(items).find((i) => i.seriesId === 'mean');
        if (!item || item.value[1] === null) return '';
        return `${fullTime(new Date(item.value[0]).toISOString())}\n${name} ${num(item.value[1])}`;
      },
    },
    xAxis: {
      type: 'time', min: since, max: until,
      axisLabel: { color: TEXT, formatter: label, hideOverlap: true },
      axisLine: { lineStyle: { color: GRIDLINE } },
      splitLine: { show: true, lineStyle: { color: GRIDLINE } },
    },
    yAxis: {
      type: 'value', scale: true, min: Math.floor((lo - pad) / yStep) * yStep, max: Math.ceil((hi + pad) / yStep) * yStep,
      axisLabel: { color: TEXT, formatter: (v) => num(v) },
      splitLine: { lineStyle: { color: GRIDLINE } },
    },
    dataZoom: [
      { type: 'inside', xAxisIndex: 0, filterMode: 'none' },
      { type: 'slider', xAxisIndex: 0, filterMode: 'none', height: 18, bottom: 6,
        borderColor: '#344150', textStyle: { color: TEXT }, labelFormatter: label },
    ],
    series: [
      { id: 'floor', type: 'line', data: floor, stack: 'band', symbol: 'none', silent: true,
        lineStyle: { opacity: 0 }, connectNulls: false },
      { id: 'range', type: 'line', data: range, stack: 'band', symbol: 'none', silent: true,
        lineStyle: { opacity: 0 }, areaStyle: { color: 'rgba(76, 154, 255, .2)' }, connectNulls: false },
      {
        id: 'mean', name, type: 'line', data: mean, connectNulls: false,
        symbol: 'circle', symbolSize: 3, showSymbol: buckets.length < 3,
        lineStyle: { color: SERIES, width: 1.6 }, itemStyle: { color: SERIES },
        markLine: {
          silent: true, symbol: 'none', animation: false,
          data: [
            ...lines.map((l) => ({
              id: `line-${l.kind}-${l.value}`, yAxis: l.value, name: l.label,
              lineStyle: { color: colour(l.kind), type: l.dashed ? 'dashed' : 'solid', width: 1.4 },
              label: { formatter: l.label, position: l.side === 'right' ? 'insideEndTop' : 'insideStartTop', // the alert and now are on the right
                color: colour(l.kind), fontSize: 12 },
            })),
            ...marks.filter((m) => inSpan(m.at)).map((m) => ({
              id: `mark-${m.kind}-${m.at}`, xAxis: m.at, name: m.label,
              lineStyle: { color: colour(m.kind), type: 'dashed', width: 1.2 },
              label: { formatter: m.short ?? '', position: 'insideEndTop', color: colour(m.kind), fontSize: 12 },
            })),
          ],
        },
        markPoint: {
          silent: true, animation: false,
          data: points.filter((p) => inSpan(p.at)).map((p) => ({
            id: `point-${p.kind}`, coord: [p.at, p.value], name: p.label, value: num(p.value),
            symbol: p.kind === 'now' ? 'circle' : 'diamond', symbolSize: p.kind === 'now' ? 10 : 14,
            itemStyle: { color: colour(p.kind), borderColor: '#0d1116', borderWidth: 1 },
            label: { color: colour(p.kind), fontSize: 12, fontWeight: 'bold', distance: 6,
              position: p.kind === 'now' ? 'left' : 'top', formatter: `${p.label} ${num(p.value)}` },
          })),
        },
      },
    ],
  };
}

function key(lines, marks, points) {
  const item = (testid, kind, text, data = {}) => h('li', { 'data-testid': testid, 'data-kind': kind, ...data },
    h('i', { class: `chart-swatch k-${kind}` }), text);
  return h('ul', { class: 'chart-key' },
    lines.map((l) => item('chart-line', l.kind, l.label, { 'data-value': l.value })),
    points.map((p) => item('chart-point', p.kind, `${p.label} ${num(p.value)} · ${fullTime(new Date(p.at).toISOString())}`,
      { 'data-value': p.value, 'data-at': p.at })),
    marks.map((m) => item('chart-mark', m.kind, m.label, { 'data-at': m.at, class: 'chart-key-mark' })));
}

/**
 * A chart element (data-testid `testid`): the ECharts canvas of `chartOption(buckets, opts)`,
 * drawn once it has a size and redrawn as it resizes, and the key of its lines, readings and
 * marks. `opts.label` is the canvas's accessible name.
 */
export function drawChart(buckets, opts) {
  sweep();
  const { lines = [], marks = [], points = [], testid = 'chart', label = t('detail.chart') } = opts;
  const option = chartOption(buckets, opts);
  const canvas = h('div', { class: 'chart-canvas', role: 'img', 'aria-label': label, 'data-testid': `${testid}-canvas` });
  const el = h('div', {
    class: 'chart', 'data-testid': testid, 'data-since': opts.since, 'data-until': opts.until,
  }, canvas, key(lines, marks, points));
  live.add(canvas);
  canvas._observer = new ResizeObserver(() => {
    if (!canvas.isConnected || canvas.clientWidth === 0) return;
    const chart = window.echarts.getInstanceByDom(canvas);
    if (chart) chart.resize();
    else window.echarts.init(canvas, null, { renderer: 'canvas', locale: locale() === 'zh-CN' ? 'ZH' : 'EN' }).setOption(option);
  });
  canvas._observer.observe(canvas);
  return el;
}
