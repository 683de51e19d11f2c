// The form's detector settings back into the village file: the `detect:` section written as
// YAML and put in place of the file's own, the rest of the file (and its comments) untouched.

// Keys YAML 1.1 would read as something other than a string, or that need quoting.
const PLAIN_KEY = /^[a-z_][a-z0-9_-]*$/i;
const YAML11_WORDS = /^(y|yes|n|no|on|off|true|false|null)$/i;

function key(k) {
  return PLAIN_KEY.test(k) && !YAML11_WORDS.test(k) ? k : JSON.stringify(k);
}

function flow(value) {
  if (Array.isArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${key(k)}: ${flow(v)}`).join(', ')}}`;
  }
  if (typeof value === 'string') return JSON.stringify(value); // a YAML double-quoted string
  return String(value); // numbers, true/false, null
}

/** The `detect:` section as YAML lines (one flow mapping per family), or '' when empty. */
export function detectYaml(detect) {
  const lines = [];
  for (const part of ['kinds', 'devices']) {
    const entries = Object.entries(detect[part] ?? {}).filter(([, fams]) => Object.keys(fams).length);
    if (!entries.length) continue;
    lines.push(`  ${part}:`);
    for (const [name, families] of entries) {
      lines.push(`    ${key(name)}:`);
      for (const [family, value] of Object.entries(families)) lines.push(`      ${key(family)}: ${flow(value)}`);
    }
  }
  return lines.length ? ['detect:', ...lines].join('\n') : '';
}

/** `text` with its top-level `detect:` section replaced by `section` (added when missing). */
export function spliceDetect(text, section) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^detect\s*:/.test(l));
  const added = section ? section.split('\n') : [];
  if (start < 0) return added.length ? `${text.replace(/\n*$/, '\n')}${section}\n` : text;
  let end = start + 1;
  while (end < lines.length && !/^[^\s#]/.test(lines[end])) end += 1;
  // comments and blank lines at the left edge lead into the next key: keep them
  while (end > start + 1 && (/^#/.test(lines[end - 1]) || lines[end - 1].trim() === '')) end -= 1;
  lines.splice(start, end - start, ...added);
  return lines.join('\n');
}

function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]));
  }
  return value;
}

// A device or kind with no family set, and an empty kinds/devices, say nothing.
function pruned(detect) {
  const out = {};
  for (const [part, entries] of Object.entries(detect ?? {})) {
    const kept = Object.entries(entries ?? {}).filter(([, fams]) => Object.keys(fams ?? {}).length);
    if (kept.length) out[part] = Object.fromEntries(kept);
  }
  return out;
}

/** Whether two detect sections say the same (key order and empty entries aside). */
export function sameSettings(a, b) {
  return JSON.stringify(sorted(pruned(a))) === JSON.stringify(sorted(pruned(b)));
}
