// ECharts on the console's pages (views18): one chart per element, resized with its element,
// drawn in the screen's colours or, while printing, dark on white. Canvas renderer and
// plain-text tooltips, since the CSP refuses the inline styles of HTML tooltips.

const charts = new Map(); // element -> {chart, watch, build}

function palette() {
  if (window.matchMedia('print').matches) {
    return { text: '#111', muted: '#444', line: '#bbb', series: ['#1f5fbf', '#d0461b', '#2f8f57', '#a07a00', '#7a3fb0', '#666'] };
  }
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v('--text'), muted: v('--muted'), line: v('--line'),
    series: [v('--accent'), v('--orange'), v('--ok'), v('--yellow'), '#b07cf0', v('--info')],
  };
}

/** Draw (or redraw) the chart of `el` from `build(colours)`, which returns its option. */
export function drawChart(el, build) {
  let entry = charts.get(el);
  if (!entry) {
    const chart = window.echarts.init(el, null, { renderer: 'canvas' });
    const watch = new ResizeObserver(() => chart.resize());
    watch.observe(el);
    entry = { chart, watch, build };
    charts.set(el, entry);
  }
  entry.build = build;
  entry.chart.setOption(build(palette()), true);
  return entry.chart;
}

/** Dispose the charts whose elements left the page (or all of them). */
export function dropCharts(all = false) {
  for (const [el, { chart, watch }] of charts) {
    if (all || !el.isConnected) {
      watch.disconnect();
      chart.dispose();
      charts.delete(el);
    }
  }
}

// Printing: redraw dark on white at the paper's width, then back.
window.matchMedia('print').addEventListener('change', () => {
  for (const [el, entry] of charts) {
    if (!el.isConnected) continue;
    entry.chart.setOption(entry.build(palette()), true);
    entry.chart.resize();
  }
});

/** The axis, grid and text settings every chart of these pages shares. */
export function base(c) {
  return {
    animation: false,
    backgroundColor: 'transparent',
    color: c.series,
    textStyle: { color: c.text, fontSize: 12 },
    grid: { left: 6, right: 14, top: 30, bottom: 4, containLabel: true },
    legend: { top: 0, right: 0, textStyle: { color: c.text }, itemWidth: 14, itemHeight: 10 },
    tooltip: { trigger: 'axis', renderMode: 'richText', axisPointer: { type: 'shadow' } },
  };
}

/** A value axis in the page's colours. */
export function valueAxis(c, extra = {}) {
  return {
    type: 'value', minInterval: 1,
    axisLabel: { color: c.muted }, splitLine: { lineStyle: { color: c.line } }, ...extra,
  };
}

/** A category axis in the page's colours. */
export function categoryAxis(c, data, extra = {}) {
  return {
    type: 'category', data,
    axisLabel: { color: c.muted, hideOverlap: true }, axisLine: { lineStyle: { color: c.line } },
    axisTick: { show: false }, ...extra,
  };
}
