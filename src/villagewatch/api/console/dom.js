// Building DOM without a framework: h('div', {class: 'x', onclick: fn}, 'text', child).
// Styles go as objects ({left: '10%'}), never as style="…" text.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'style' && typeof value === 'object') {
      // through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' allows
      for (const [prop, v] of Object.entries(value)) el.style.setProperty(prop, v);
    } else if (name === 'text') {
      el.textContent = value;
    } else if (name in el && typeof value !== 'string' && !(el instanceof SVGElement)) {
      el[name] = value; // properties such as disabled, checked, value
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace every child of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  return fill(el, null, children);
}

/** The element with this id (which the page must have). */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}
