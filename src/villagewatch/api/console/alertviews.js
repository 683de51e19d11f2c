// Beside an alert's words in the detail panel: the evidence picture with the detection's box
// and zone and the time it was taken, the chart over the alert's own span (GET
// /api/alerts/{id}/chart: levels, the reading that fired, now), and where it is.

import { ApiError, api, blob } from './api.js';
import { drawChart } from './chart.js';
import { h, mount, s } from './dom.js';
import { fullTime, num, unit, when } from './format.js';
import { t } from './i18n.js';
import { state } from './state.js';

let pictureUrl = null;


function overlay(pic) {
  const zone = pic.zone
    ? s('g', { class: `ev-zone z-${pic.zone.kind}`, 'data-testid': 'evidence-zone', 'data-zone': pic.zone.id },
      s('polygon', { points: pic.zone.polygon.map(([x, y]) => `${x},${y}`).join(' ') }))
    : null;
  const box = pic.box
    ? s('rect', { class: 'ev-box', 'data-testid': 'evidence-box', x: pic.box[0], y: pic.box[1],
      width: pic.box[2], height: pic.box[3] })
    : null;
  return s('svg', { class: 'ev-overlay', viewBox: '0 0 1 1', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    zone, box);
}

function pictureCaption(pic) {
  const what = pic.detection ? t(`detection.${pic.detection}`) : null;
  return h('figcaption', { class: 'ev-caption', 'data-testid': 'evidence-caption' },
    h('time', { datetime: pic.taken, 'data-testid': 'evidence-time' }, t('detail.evidence.taken', { at: fullTime(pic.taken) })),
    what && !what.startsWith('detection.') ? ` · ${what}` : null,
    pic.zone ? ` · ${t('detail.evidence.zone', { zone: pic.zone.id })}` : null,
    pic.box ? h('span', { class: 'ev-key' }, h('i', { class: 'ev-key-box' }), t('detail.evidence.box')) : null,
    pic.zone ? h('span', { class: 'ev-key' }, h('i', { class: 'ev-key-zone' }), t('detail.evidence.zonekey')) : null);
}

/** Forget the picture shown (the panel closes or moves on). */
export function forgetPicture() {
  if (pictureUrl) URL.revokeObjectURL(pictureUrl);
  pictureUrl = null;
}

/** The alert's evidence picture into `box`, with its box, zone and time; `shown()` says
 * whether the panel still shows the alert when the picture arrives. */
export async function loadPicture(a, box, shown) {
  forgetPicture();
  mount(box, h('p', { class: 'muted' }, t('detail.evidence.loading')));
  try {
    const pic = await api(`/api/alerts/${a.id}/picture`);
    pictureUrl = URL.createObjectURL(await blob(pic.url));
    if (!shown()) return;
    mount(box, h('figure', { class: 'ev-figure', 'data-testid': 'evidence-figure' },
      h('a', { class: 'ev-frame', href: pictureUrl, target: '_blank', rel: 'noopener' },
        h('img', { class: 'evidence', src: pictureUrl, alt: t('detail.evidence'), 'data-testid': 'evidence-img' }),
        overlay(pic)),
      pictureCaption(pic)));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    mount(box, h('p', { class: 'muted', 'data-testid': 'evidence-missing', title: err.detail },
      t('detail.noevidence')));
  }
}

function levelLines(levels, u) {
  return levels.map((l) => ({
    value: l.value, kind: l.severity ?? 'range', dashed: l.severity === null,
    label: `${t(`level.${l.name}`)} ${num(l.value)}${u ? ` ${u}` : ''}`,
  }));
}

/** The alert's chart into `box` (in `section`, hidden when a context series has no data). */
export async function loadChart(a, section, box, shown) {
  mount(box, h('p', { class: 'muted' }, t('detail.loading')));
  let data;
  try {
    data = await api(`/api/alerts/${a.id}/chart`);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (shown()) mount(box, h('p', { class: 'muted error' }, err.detail));
    return;
  }
  if (!shown()) return;
  if (data.buckets.length === 0) {
    // a context series (a camera's gauge) with nothing to show: no empty box
    if (!data.own) section.hidden = true;
    else mount(box, h('p', { class: 'muted', 'data-testid': 'chart-empty' }, t('detail.nodata')));
    return;
  }
  const name = t(`metric.${data.metric}`);
  const u = unit(data.metric);
  const series = `${name.startsWith('metric.') ? data.metric : name}${u ? ` (${u})` : ''}`;
  const started = Date.parse(data.started);
  const marks = [{ at: started, kind: 'start', label: t('detail.alertstart'), short: t('detail.alertstart') }];
  if (data.ended) marks.push({ at: Date.parse(data.ended), kind: 'end', label: t('detail.chart.cleared'), short: t('detail.chart.cleared') });
  const points = [];
  if (data.fired) points.push({ at: Date.parse(data.fired.at), value: data.fired.value, kind: 'fired', label: t('detail.chart.fired') });
  if (data.current) points.push({ at: Date.parse(data.current.at), value: data.current.value, kind: 'now', label: t('detail.chart.now') });
  const since = Date.parse(data.since);
  const until = Date.parse(data.until);
  mount(box,
    h('p', { class: 'chart-caption muted' }, `${data.device} · ${series} · ${t('detail.chart.span', {
      from: fullTime(data.since), to: data.ended ? fullTime(data.until) : t('detail.chart.tonow') })}`),
    data.current ? h('p', { class: 'chart-now', 'data-testid': 'chart-now' },
      t('detail.chart.nowis', { value: `${num(data.current.value)}${u ? ` ${u}` : ''}`, at: when(data.current.at) })) : null,
    drawChart(data.buckets, { since, until, slices: data.slices, name: series,
      lines: levelLines(data.levels, u), marks, points, label: `${t('detail.chart')}: ${series}` }),
    h('p', { class: 'chart-hint muted' }, t('detail.chart.zoom')));
}

/** Where the alert is: its place, its device, and a small plan with the device marked. */
export function placeCard(a) {
  const device = a.subject.split(':')[0];
  const found = state.devices.find((d) => d.village === a.village && d.id === device);
  const others = found?.position ? state.devices.filter((d) => d.village === a.village && d.position && d !== found) : [];
  return h('div', { class: 'd-place', 'data-testid': 'detail-place' },
    h('p', { class: 'd-place-name' }, a.place_name, found ? ` · ${found.name || found.id}` : ''),
    found?.position
      ? h('div', { class: 'mini-plan', 'aria-hidden': 'true' },
        others.map((d) => h('i', { class: 'mini-dot', style: { left: `${d.position.x * 100}%`, top: `${d.position.y * 100}%` } })),
        h('i', { class: `mini-dot here sev-${a.severity}`, 'data-testid': 'detail-place-dot',
          style: { left: `${found.position.x * 100}%`, top: `${found.position.y * 100}%` } }))
      : null);
}
