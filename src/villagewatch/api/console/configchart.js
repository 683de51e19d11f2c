// The config page's chart (chart.js, as every chart): a device's last 24 h with the water levels in use (dashed) and as
// changed (orange), and the alerts a replay raised with each (POST /api/tune/replay).

import { ApiError, api, post, query } from './api.js';
import { drawChart } from './chart.js';
import { h } from './dom.js';
import { fullTime, num } from './format.js';
import { t } from './i18n.js';

const CHART_MS = 24 * 3600e3;
const SLICES = 144;
const LEVELS = ['warning_cm', 'guaranteed_cm', 'historical_max_cm'];

/** The level settings a device runs with under `detect`: its own, else its kind's; or null. */
export function levelOf(detect, device) {
  const own = detect?.devices?.[device.id]?.level;
  const level = own !== undefined ? own : detect?.kinds?.[device.kind]?.level;
  return level && typeof level === 'object' ? level : null;
}

/** The device's last 24 h of its level metric (or its kind's first): {device, since, until, data|error}. */
export async function fetchSeries(village, device, detect) {
  const until = Date.now();
  const since = until - CHART_MS;
  const metric = levelOf(detect, device)?.metric
    ?? (device.kind === 'water_level' || device.kind === 'camera' ? 'level_cm' : null);
  try {
    const data = await api(`/api/readings${query({ village, device: device.id, metric,
      since: new Date(since).toISOString(), until: new Date(until).toISOString(), buckets: SLICES })}`);
    return { device: device.id, since, until, data };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { device: device.id, since, until, data: null, error: err.detail };
  }
}

/** Replay `text` against today's settings over the chart's range; the route's answer. */
export function replayOn(village, device, series, text) {
  return post('/api/tune/replay', {
    since: new Date(series.since).toISOString(), until: new Date(series.until).toISOString(),
    village, device: device.id, candidate: text,
  });
}

function thresholdLines(device, current, candidate) {
  const lines = [];
  for (const [kind, detect] of [['current', current], ['candidate', candidate]]) {
    const level = levelOf(detect, device);
    for (const name of LEVELS) {
      const value = level?.[name];
      if (typeof value === 'number') {
        lines.push({ value, kind, dashed: kind === 'current', side: kind === 'candidate' ? 'left' : 'right', // both labels readable when equal
          label: t(`cfg.line.${kind}`, { name: t(`cfgf.${name}`), value: num(value) }) });
      }
    }
  }
  return lines;
}

function replayMarks(village, device, report) {
  if (!report) return [];
  return ['today', 'candidate'].flatMap((side) => report[side].alerts
    .filter((a) => a.village === village && a.subject === device.id)
    .flatMap((a) => a.transitions.filter((tr) => tr.action === 'fire').map((tr) => ({
      at: Date.parse(tr.at), kind: side,
      label: t(`cfg.mark.${side}`, { severity: t(`sev.${tr.severity}`), at: fullTime(tr.at) }),
    }))));
}

/**
 * The chart's panel: the series with the `current` and `candidate` detect sections' levels,
 * the replay `report`'s alerts of this device (null: not replayed), and the replay button.
 */
export function chartPanel({ village, device, series, current, candidate, report, onReplay }) {
  const body = series.error ? h('p', { class: 'muted error' }, series.error)
    : !series.data?.buckets.length ? h('p', { class: 'muted' }, t('cfg.chart.nodata'))
      : drawChart(series.data.buckets, { since: series.since, until: series.until, slices: SLICES,
        lines: thresholdLines(device, current, candidate), marks: replayMarks(village, device, report),
        name: t(`metric.${series.data.metric}`), label: t('cfg.chart', { device: device.name || device.id }) });
  const levels = levelOf(candidate, device) || levelOf(current, device);
  return [
    h('h3', {}, t('cfg.chart', { device: device.name || device.id })),
    body,
    h('p', { class: 'cfg-help muted' }, levels ? t('cfg.legend') : t('cfg.chart.nolevel')),
    h('div', { class: 'cfg-replay' },
      h('button', { type: 'button', 'data-testid': 'cfg-replay', onclick: (ev) => {
        ev.target.disabled = true;
        ev.target.textContent = t('cfg.replaying');
        onReplay();
      } }, t('cfg.replay')),
      report ? h('span', { 'data-testid': 'cfg-replay-summary' }, t('cfg.replay.summary', report.summary)) : null),
  ];
}
