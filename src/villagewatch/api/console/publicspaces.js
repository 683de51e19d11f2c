// The public free-spaces page: every public lot's free spaces, refreshed every 30 s.
// No login, no other data. Ages are counted from the server's answer (its `age_s`) plus
// the time since it arrived, so a phone with a wrong clock still shows the right age.

const REFRESH_MS = 30_000;

const TEXT = {
  zh: {
    title: '空车位',
    intro: '村里公共停车场的空车位，由摄像头计数，每 30 秒更新。',
    free: '空位',
    of: (total) => `共 ${total} 个车位`,
    full: '已满',
    updated: (age) => `${age}前更新`,
    stale: (age) => `摄像头已 ${age}没有报告，暂无当前空位数。`,
    unknown: '还没有收到这个停车场的计数。',
    none: '目前没有公开的停车场。',
    failed: '暂时无法更新，稍后自动重试。',
    busy: (s) => `请求太频繁，${s} 秒后重试。`,
    loading: '正在加载…',
    footer: (t) => `最后检查：${t}`,
    s: (n) => `${n} 秒`, m: (n) => `${n} 分钟`, h: (n) => `${n} 小时`, d: (n) => `${n} 天`,
  },
  en: {
    title: 'Free parking spaces',
    intro: 'Free spaces in the village’s public car parks, counted by camera, updated every 30 s.',
    free: 'free',
    of: (total) => `of ${total} spaces`,
    full: 'Full',
    updated: (age) => `updated ${age} ago`,
    stale: (age) => `The camera has not reported for ${age}: no current count.`,
    unknown: 'No count has come in for this car park yet.',
    none: 'No car park is public yet.',
    failed: 'Could not update just now; trying again shortly.',
    busy: (s) => `Too many requests; trying again in ${s} s.`,
    loading: 'Loading…',
    footer: (t) => `Last checked: ${t}`,
    s: (n) => `${n} s`, m: (n) => `${n} min`, h: (n) => `${n} h`, d: (n) => `${n} days`,
  },
};

function language() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'zh' || asked === 'en') return asked;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ''];
  for (const l of langs) {
    const low = String(l).toLowerCase();
    if (low.startsWith('zh')) return 'zh';
    if (low.startsWith('en')) return 'en';
  }
  return 'zh';
}

const lang = language();
const t = TEXT[lang];
let timer = 0;

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return t.s(s);
  if (s < 90 * 60) return t.m(Math.round(s / 60));
  if (s < 36 * 3600) return t.h(Math.round(s / 3600));
  return t.d(Math.round(s / 86400));
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text; // never innerHTML: names come from config
  return node;
}

function card(lot, sinceAnswer) {
  const li = el('li', `lot ${lot.state}`);
  li.dataset.testid = `lot-${lot.village}-${lot.id}`;
  li.appendChild(el('h2', '', lot.name[lang]));
  if (lot.note) li.appendChild(el('p', 'note muted', lot.note[lang]));
  const age = lot.age_s === null ? null : lot.age_s + sinceAnswer;
  if (lot.state === 'current') {
    if (lot.free === 0) li.classList.add('full');
    const fig = el('p', 'figure');
    fig.appendChild(el('span', 'free', lot.free === 0 ? t.full : String(lot.free)));
    if (lot.free !== 0) fig.appendChild(el('span', 'label', t.free));
    fig.appendChild(el('span', 'of muted', t.of(lot.total)));
    li.appendChild(fig);
    li.appendChild(el('p', 'age muted', t.updated(duration(age))));
  } else if (lot.state === 'stale') {
    li.appendChild(el('p', 'warn', t.stale(duration(age))));
  } else {
    li.appendChild(el('p', 'warn', t.unknown));
  }
  return li;
}

let last = null; // {answer, at: performance.now()}

function draw() {
  if (!last) return;
  const sinceAnswer = (performance.now() - last.at) / 1000;
  const list = document.getElementById('lots');
  list.replaceChildren(...last.answer.lots.map((lot) => card(lot, sinceAnswer)));
  if (!last.answer.lots.length) list.appendChild(el('li', 'lot muted', t.none));
}

async function refresh() {
  clearTimeout(timer);
  const status = document.getElementById('status');
  let wait = REFRESH_MS;
  try {
    const reply = await fetch('/public/spaces.json', { cache: 'no-store' });
    if (reply.status === 429) {
      const s = Number(reply.headers.get('Retry-After')) || 30;
      status.textContent = t.busy(s);
      wait = Math.max(REFRESH_MS, s * 1000);
    } else if (!reply.ok) {
      throw new Error(String(reply.status));
    } else {
      last = { answer: await reply.json(), at: performance.now() };
      status.textContent = '';
      document.getElementById('footer').textContent = t.footer(new Date().toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en'));
    }
  } catch {
    status.textContent = t.failed;
    // an answer we can no longer vouch for is dropped: its ages keep counting, and a lot
    // past its own limit would wrongly stay "current" otherwise
    if (last) last.answer.lots = last.answer.lots.map((lot) => (
      lot.state === 'current' && lot.age_s + (performance.now() - last.at) / 1000 > lot.stale_after_s
        ? { ...lot, state: 'stale', free: null, total: null } : lot));
  }
  draw();
  timer = setTimeout(refresh, wait);
}

function start() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t.title;
  document.getElementById('title').textContent = t.title;
  document.getElementById('intro').textContent = t.intro;
  document.getElementById('status').textContent = t.loading;
  refresh();
  setInterval(draw, 10_000); // ages count up between answers
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
}

start();
