// The rental registry: houses with their lock, tenants and lock credentials.
// Operators (and above) add and end; everyone else reads (tenants' names come masked).

import { ApiError, api, post, query } from './api.js';
import { byId, h, mount } from './dom.js';
import { fullTime, when } from './format.js';
import { t } from './i18n.js';
import { placeName } from './messages.js';
import { may } from './session.js';
import { state } from './state.js';

let houses = null;

function locks(village) {
  return state.devices.filter((d) => d.kind === 'smart_lock' && (!village || d.village === village));
}

function say(text, kind) {
  const el = byId('registry-message');
  el.textContent = text;
  el.className = `act-msg ${kind}`;
}

async function change(path, body) {
  try {
    const house = await post(path, body);
    const i = houses.findIndex((x) => x.village === house.village && x.id === house.id);
    if (i < 0) houses.push(house);
    else houses[i] = house;
    renderRegistry();
    say(t('registry.saved'), 'ok');
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    say(t('detail.refused', { detail: err.detail }), 'error');
  }
}

function fields(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function isoOrNull(local) {
  return local ? new Date(local).toISOString() : null;
}

function endButton(path, testid) {
  let armed = null;
  const btn = h('button', {
    type: 'button', class: 'small danger', 'data-testid': testid,
    onclick: () => {
      if (armed) {
        clearTimeout(armed);
        change(path, {});
        return;
      }
      btn.textContent = t('registry.confirm');
      btn.classList.add('armed');
      armed = setTimeout(() => {
        armed = null;
        btn.textContent = t('registry.end');
        btn.classList.remove('armed');
      }, 4000);
    },
  }, t('registry.end'));
  return btn;
}

function status(ended) {
  return ended
    ? h('span', { class: 'muted', title: fullTime(ended) }, t('registry.ended', { time: when(ended) }))
    : h('span', { class: 'current' }, t('registry.current'));
}

function field(labelKey, input) {
  return h('label', { class: 'field' }, h('span', {}, t(labelKey)), input);
}

function headings(...keys) {
  return h('thead', {}, h('tr', {}, keys.map((k) => h('th', {}, k ? t(k) : ''))));
}

function tenantsTable(house, base, edit) {
  if (house.tenants.length === 0) return h('p', { class: 'muted' }, t('registry.notenants'));
  return h('table', { class: 'reg' },
    headings('tenant.id', 'tenant.name', 'tenant.phone', 'tenant.verified', 'registry.added', ''),
    h('tbody', {}, house.tenants.map((tn) => h('tr', {
      class: tn.ended ? 'ended' : '', 'data-testid': 'tenant', 'data-tenant-id': tn.id,
    },
      h('td', {}, tn.id), h('td', {}, tn.name), h('td', {}, tn.phone ?? '—'),
      h('td', {}, t(tn.verified ? 'registry.verified' : 'registry.unverified')),
      h('td', { title: fullTime(tn.added) }, when(tn.added)),
      h('td', {}, h('span', { class: 'row-end' }, status(tn.ended),
        edit && !tn.ended ? endButton(`${base}/tenants/${encodeURIComponent(tn.id)}/end`, 'end-tenant') : null))))));
}

function credentialsTable(house, base, edit) {
  if (house.credentials.length === 0) return h('p', { class: 'muted' }, t('registry.nocreds'));
  return h('table', { class: 'reg' },
    headings('cred.id', 'cred.tenant', 'cred.from', 'cred.to', ''),
    h('tbody', {}, house.credentials.map((c) => h('tr', {
      class: c.ended ? 'ended' : '', 'data-testid': 'credential', 'data-credential-id': c.id,
    },
      h('td', {}, c.id), h('td', {}, c.tenant),
      h('td', {}, c.valid_from ? when(c.valid_from) : '—'),
      h('td', {}, c.valid_to ? when(c.valid_to) : t('registry.forever')),
      h('td', {}, h('span', { class: 'row-end' }, status(c.ended),
        edit && !c.ended
          ? endButton(`${base}/credentials/${encodeURIComponent(c.id)}/end`, 'end-credential')
          : null))))));
}

function tenantForm(base) {
  return h('form', {
    class: 'inline-form', 'data-testid': 'add-tenant',
    onsubmit: (ev) => {
      ev.preventDefault();
      const f = fields(ev.target);
      change(`${base}/tenants`, { id: f.id, name: f.name, phone: f.phone, verified: f.verified === 'on' });
    },
  },
  field('tenant.id', h('input', { name: 'id', required: true, pattern: '[a-z0-9][a-z0-9_\\-]*', maxlength: 64 })),
  field('tenant.name', h('input', { name: 'name', required: true, maxlength: 100 })),
  field('tenant.phone', h('input', { name: 'phone', type: 'tel', maxlength: 40 })),
  h('label', { class: 'check' }, h('input', { name: 'verified', type: 'checkbox' }), t('tenant.verified')),
  h('button', { type: 'submit', class: 'small' }, t('tenant.add')));
}

function credentialForm(house, base) {
  const current = house.tenants.filter((tn) => !tn.ended);
  if (current.length === 0) return null;
  return h('form', {
    class: 'inline-form', 'data-testid': 'add-credential',
    onsubmit: (ev) => {
      ev.preventDefault();
      const f = fields(ev.target);
      change(`${base}/credentials`, {
        id: f.id, tenant: f.tenant, valid_from: isoOrNull(f.valid_from), valid_to: isoOrNull(f.valid_to),
      });
    },
  },
  field('cred.id', h('input', { name: 'id', required: true, pattern: '[a-z0-9][a-z0-9_\\-]*', maxlength: 64 })),
  field('cred.tenant', h('select', { name: 'tenant' },
    current.map((tn) => h('option', { value: tn.id }, `${tn.id} ${tn.name}`)))),
  field('cred.from', h('input', { name: 'valid_from', type: 'datetime-local' })),
  field('cred.to', h('input', { name: 'valid_to', type: 'datetime-local' })),
  h('button', { type: 'submit', class: 'small' }, t('cred.add')));
}

function houseCard(house, edit) {
  const base = `/api/registry/houses/${encodeURIComponent(house.village)}/${encodeURIComponent(house.id)}`;
  const lock = state.devices.find((d) => d.village === house.village && d.id === house.lock);
  return h('article', { class: 'house', 'data-testid': 'house', 'data-house-id': house.id },
    h('header', {},
      h('h3', {}, house.name || house.id),
      h('span', { class: 'muted' },
        `${placeName(house.village)}/${house.id} · ${t('house.lock')} ${lock ? lock.name : house.lock}`)),
    h('h4', {}, t('registry.tenants')),
    tenantsTable(house, base, edit),
    edit ? tenantForm(base) : null,
    h('h4', {}, t('registry.credentials')),
    credentialsTable(house, base, edit),
    edit ? credentialForm(house, base) : null);
}

function houseForm() {
  const villages = [...new Set(locks().map((d) => d.village))];
  const lockSelect = h('select', { name: 'lock', required: true });
  const fillLocks = (village) => mount(lockSelect,
    locks(village).map((d) => h('option', { value: d.id }, `${d.name} (${d.id})`)));
  fillLocks(villages[0]);
  return h('form', {
    class: 'inline-form add-house', 'data-testid': 'add-house',
    onsubmit: (ev) => {
      ev.preventDefault();
      const f = fields(ev.target);
      change('/api/registry/houses', { village: f.village, id: f.id, name: f.name, lock: f.lock });
    },
  },
  h('strong', {}, t('registry.addhouse')),
  field('house.village', h('select', { name: 'village', onchange: (ev) => fillLocks(ev.target.value) },
    villages.map((v) => h('option', { value: v }, placeName(v))))),
  field('house.id', h('input', { name: 'id', required: true, pattern: '[a-z0-9][a-z0-9_\\-]*', maxlength: 64 })),
  field('house.name', h('input', { name: 'name', maxlength: 200 })),
  field('house.lock', lockSelect),
  h('button', { type: 'submit', class: 'small primary' }, t('registry.add')));
}

/** Draw the registry view (loads the houses the first time). */
export function renderRegistry() {
  const el = byId('registry-body');
  const edit = may('operator');
  if (houses === null) {
    mount(el, h('p', { class: 'muted' }, t('detail.loading')));
    loadRegistry();
    return;
  }
  const sorted = [...houses].sort((a, b) => `${a.village}/${a.id}`.localeCompare(`${b.village}/${b.id}`));
  mount(el,
    edit ? null : h('p', { class: 'readonly muted', 'data-testid': 'registry-readonly' }, t('registry.readonly')),
    edit ? houseForm() : null,
    sorted.length === 0
      ? h('p', { class: 'muted' }, t('registry.empty'))
      : h('div', { class: 'houses', 'data-testid': 'house-list' }, sorted.map((x) => houseCard(x, edit))));
}

async function loadRegistry() {
  try {
    houses = await api(`/api/registry/houses${query({})}`);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    houses = [];
    renderRegistry();
    say(err.detail, 'error');
    return;
  }
  renderRegistry();
}

/** Show the registry at once as last seen, and fetch it again. */
export function openRegistry() {
  const first = houses === null;
  renderRegistry();
  if (!first) loadRegistry();
}

/** Forget the houses (after logout). */
export function resetRegistry() {
  houses = null;
}
