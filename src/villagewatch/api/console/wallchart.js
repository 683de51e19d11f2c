// The wall's trends: alarms per hour (24 h) and per day (30 days), stacked by severity, drawn
// by ECharts (vendored; index.html loads it before the modules). Redrawn at most every 3 s,
// however fast alerts arrive (a new language at once).

import { dateFormat } from './format.js';
import { t } from './i18n.js';
import { SEVERITIES } from './state.js';

const MIN_GAP_MS = 3000; // a bar grows by one: the eye does not need it within the second

const charts = new Map(); // element id -> {chart, watch (its ResizeObserver)}
let wanted = null; // the summary to draw next
let timer = null;
let lastDraw = 0;

function colours() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v('--text'), muted: v('--muted'), line: v('--line'),
    sev: Object.fromEntries(SEVERITIES.map((s) => [s, v(`--${s}`)])),
  };
}

function label(iso, daily) {
  const opts = daily ? { month: '2-digit', day: '2-digit' } : { hour: '2-digit', minute: '2-digit', hour12: false };
  return dateFormat(opts).format(new Date(iso));
}

function option(buckets, daily, c) {
  return {
    animation: false,
    backgroundColor: 'transparent',
    textStyle: { color: c.text, fontSize: 16 },
    grid: { left: 8, right: 8, top: 34, bottom: 4, containLabel: true },
    legend: { top: 0, right: 0, textStyle: { color: c.text, fontSize: 15 }, itemWidth: 16, itemHeight: 12 },
    tooltip: { trigger: 'axis', renderMode: 'richText', axisPointer: { type: 'shadow' } },
    xAxis: {
      type: 'category',
      data: buckets.map((b) => label(b.start, daily)),
      axisLabel: { color: c.muted, fontSize: 15, hideOverlap: true },
      axisLine: { lineStyle: { color: c.line } },
      axisTick: { show: false },
    },
    yAxis: {
      type: 'value', minInterval: 1,
      axisLabel: { color: c.muted, fontSize: 15 },
      splitLine: { lineStyle: { color: c.line } },
    },
    // info at the bottom, red on top: the worst is where the eye lands
    series: SEVERITIES.map((sev) => ({
      name: t(`sev.${sev}`),
      type: 'bar',
      stack: 'alarms',
      barCategoryGap: '25%',
      itemStyle: { color: c.sev[sev] },
      data: buckets.map((b) => b.counts[sev] ?? 0),
    })),
  };
}

function drawOne(echarts, id, buckets, daily, c) {
  const el = document.getElementById(id);
  if (!el || el.clientWidth === 0) return; // not on screen: drawn when it is
  let kept = charts.get(id);
  if (!kept || kept.chart.getDom() !== el) {
    const chart = echarts.init(el, null, { renderer: 'canvas' });
    const watch = new ResizeObserver(() => chart.resize());
    watch.observe(el);
    kept = { chart, watch };
    charts.set(id, kept);
  }
  kept.chart.setOption(option(buckets, daily, c), { notMerge: true, lazyUpdate: true });
}

function flush() {
  timer = null;
  lastDraw = Date.now();
  const summary = wanted;
  const { echarts } = window;
  if (!summary || !echarts) return; // without ECharts the tiles and the feed still work
  const c = colours();
  drawOne(echarts, 'wall-hourly', summary.hourly, false, c);
  drawOne(echarts, 'wall-daily', summary.daily, true, c);
}

/** Draw the trends of `summary` ({hourly, daily}) soon (at most every 3 s). */
export function drawTrends(summary) {
  wanted = summary;
  if (timer) return;
  timer = setTimeout(flush, Math.max(0, lastDraw + MIN_GAP_MS - Date.now()));
}

/** Draw the trends wanted now, not within the second (a new language). */
export function redrawTrends() {
  clearTimeout(timer);
  flush();
}

/** Let the charts go (leaving the wall, logging out). */
export function disposeTrends() {
  clearTimeout(timer);
  timer = null;
  wanted = null;
  for (const { chart, watch } of charts.values()) {
    watch.disconnect();
    chart.dispose();
  }
  charts.clear();
}
