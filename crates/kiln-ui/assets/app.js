// Kiln's web UI: the shell (view tabs, service/profile-type pickers, label
// selector with autocomplete, time range) and the glue between state, API and
// views. Each view lives in views.js; everything reads and writes `state`,
// which is mirrored in the URL.

import { call, setTenant } from './api.js';
import { formatTime, resolveTime } from './format.js';
import { readState, writeState, VIEWS } from './state.js';
import { renderView } from './views.js';

const state = readState();
const $ = (id) => document.getElementById(id);

/** Everything the views need: state, API access with busy tracking, helpers. */
const ctx = {
  state,
  profileTypes: new Map(),
  graphs: {},
  labelNames: [],
  /** Calls the API, counting in-flight requests in `body[data-busy]`. */
  api(method, body) {
    return ctx.track(call(method, body));
  },
  /** Awaits `promise` while counting it as in flight (tests wait for 0). */
  async track(promise) {
    busy(+1);
    try {
      return await promise;
    } finally {
      busy(-1);
    }
  },
  save() {
    writeState(state);
  },
  refresh() {
    writeState(state);
    render();
  },
  range() {
    return rangeOf(state.from, state.until);
  },
  rangeOf,
  selector(extra) {
    return selectorFor(state.service, extra === undefined ? state.query : extra);
  },
  unit() {
    return unitOf(state.type);
  },
  isGauge() {
    return isGauge(state.type);
  },
  showError,
  setView,
};
window.kiln = ctx;

let pending = 0;
let generation = 0;
function busy(delta) {
  pending += delta;
  document.body.dataset.busy = String(pending);
}

/** Epochs are shown as local dates; relative times (`now-1h`) as typed. */
function showTime(expr) {
  return /^\d+$/.test(expr) ? formatTime(resolveTime(expr), true) : expr;
}

/** What the URL keeps of a typed time: relative as is, anything else as epoch ms. */
function keepTime(text) {
  return /^now(-\d+[smhdw])?$/.test(text) ? text : String(resolveTime(text));
}

function rangeOf(from, until) {
  const now = Date.now();
  const start = resolveTime(from, now);
  const end = resolveTime(until, now);
  if (end <= start) throw new Error(`the time range is empty: "${from}" is not before "${until}"`);
  return { start, end };
}

/** `{service_name="svc", <extra matchers>}`; extra may have braces or not. */
export function selectorFor(service, extra) {
  let inner = (extra || '').trim();
  if (inner.startsWith('{') && inner.endsWith('}')) inner = inner.slice(1, -1).trim();
  const parts = [];
  if (service) parts.push(`service_name="${service.replace(/["\\]/g, '\\$&')}"`);
  if (inner) parts.push(inner);
  return `{${parts.join(', ')}}`;
}

/** The sample unit of a profile-type ID (its third field). */
export function unitOf(typeId) {
  return (typeId || '').split(':')[2] || '';
}

/** Gauges (in-use memory, goroutines) are averaged over time; counters summed. */
export function isGauge(typeId) {
  const [name = '', sample = ''] = (typeId || '').split(':');
  return /inuse|goroutine|live/.test(sample) || /goroutine/.test(name);
}

function showError(err, where) {
  const box = $('error');
  if (!err) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  if (err.code === 'unauthenticated' || err.code === '401') {
    // Multi-tenancy is on: ask for the tenant.
    $('tenant-field').hidden = false;
  }
  const method = err.method ? `${err.method}: ` : '';
  box.textContent = `${where ? `${where} — ` : ''}${method}${err.message}`;
  box.hidden = false;
}

function setView(view) {
  state.view = view;
  ctx.refresh();
}

// --- pickers ---------------------------------------------------------------

async function loadServices() {
  const { start, end } = ctx.range();
  const [services, types] = await Promise.all([
    ctx.api('LabelValues', { name: 'service_name', start, end }),
    ctx.api('ProfileTypes', { start, end }),
  ]);
  ctx.profileTypes = new Map((types.profileTypes || []).map((t) => [t.ID, t]));
  const names = services.names || [];
  const select = $('service');
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  if (state.service && !names.includes(state.service)) select.append(new Option(`${state.service} (no data)`, state.service));
  if (!state.service && names.length) state.service = names[0];
  select.value = state.service;
  select.disabled = names.length === 0;
}

function typeLabel(id) {
  const t = ctx.profileTypes.get(id);
  if (!t) return id;
  return `${t.name} · ${t.sampleType} (${t.sampleUnit})`;
}

async function loadTypes() {
  const select = $('profile-type');
  if (!state.service) {
    select.replaceChildren();
    select.disabled = true;
    return;
  }
  const { start, end } = ctx.range();
  const res = await ctx.api('LabelValues', {
    name: '__profile_type__',
    matchers: [selectorFor(state.service, '')],
    start,
    end,
  });
  const ids = res.names || [];
  select.replaceChildren(...ids.map((id) => new Option(typeLabel(id), id)));
  if (state.type && !ids.includes(state.type)) select.append(new Option(`${typeLabel(state.type)} (no data)`, state.type));
  // A type from a shared URL is kept (shown as "no data"); otherwise the first.
  if (!ids.includes(state.type) && !state.typeFromUrl) state.type = ids[0] || '';
  state.typeFromUrl = false;
  select.value = state.type;
  select.disabled = ids.length === 0;
}

// --- label selector with autocomplete ----------------------------------------

const NAME_AT_END = /(?:^|[{,]\s*)([a-zA-Z_][a-zA-Z0-9_]*)?$/;
const VALUE_AT_END = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)$/;

async function suggest() {
  const input = $('selector');
  const list = $('suggestions');
  const before = input.value.slice(0, input.selectionStart ?? input.value.length);
  let items = [];
  let replaceLen = 0;
  const value = VALUE_AT_END.exec(before);
  const { start, end } = ctx.range();
  if (value) {
    const res = await ctx.api('LabelValues', { name: value[1], matchers: [selectorFor(state.service, '')], start, end });
    items = (res.names || []).filter((v) => v.startsWith(value[2])).map((v) => ({ text: v, insert: `${v}"`, kind: 'value' }));
    replaceLen = value[2].length;
  } else {
    const name = NAME_AT_END.exec(before);
    if (name) {
      if (!ctx.labelNames.length) {
        const res = await ctx.api('LabelNames', { matchers: [selectorFor(state.service, '')], start, end });
        ctx.labelNames = (res.names || []).filter((n) => !n.startsWith('__') && n !== 'service_name');
      }
      const partial = name[1] || '';
      items = ctx.labelNames.filter((n) => n.startsWith(partial)).map((n) => ({ text: n, insert: `${n}="`, kind: 'name' }));
      replaceLen = partial.length;
    }
  }
  list.replaceChildren(
    ...items.slice(0, 30).map((item) => {
      const li = document.createElement('li');
      li.textContent = item.text;
      li.dataset.kind = item.kind;
      li.setAttribute('role', 'option');
      li.addEventListener('mousedown', (e) => {
        e.preventDefault();
        const caret = before.length;
        input.value = input.value.slice(0, caret - replaceLen) + item.insert + input.value.slice(caret);
        const at = caret - replaceLen + item.insert.length;
        input.setSelectionRange(at, at);
        input.focus();
        suggest().catch(showError);
      });
      return li;
    }),
  );
  list.hidden = items.length === 0 || document.activeElement !== input;
}

// --- shell -------------------------------------------------------------------

function bindControls() {
  for (const tab of document.querySelectorAll('nav [data-view]')) {
    tab.addEventListener('click', (e) => {
      e.preventDefault();
      setView(tab.dataset.view);
    });
  }
  $('service').addEventListener('change', async (e) => {
    state.service = e.target.value;
    state.zoom = '';
    state.fn = '';
    ctx.labelNames = [];
    await loadTypes().catch(showError);
    ctx.refresh();
  });
  $('profile-type').addEventListener('change', (e) => {
    state.type = e.target.value;
    state.zoom = '';
    state.fn = '';
    ctx.refresh();
  });
  const input = $('selector');
  input.value = state.query;
  input.addEventListener('input', () => suggest().catch(showError));
  input.addEventListener('focus', () => suggest().catch(showError));
  input.addEventListener('blur', () => ($('suggestions').hidden = true));
  $('query-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.query = input.value.trim();
    try {
      state.from = keepTime($('from').value.trim() || 'now-1h');
      state.until = keepTime($('until').value.trim() || 'now');
    } catch (err) {
      showError(err);
      return;
    }
    $('suggestions').hidden = true;
    state.tenant = $('tenant').value.trim();
    setTenant(state.tenant);
    start();
  });
  $('preset').addEventListener('change', (e) => {
    if (!e.target.value) return;
    state.from = e.target.value;
    state.until = 'now';
    start();
  });
}

function syncControls() {
  for (const tab of document.querySelectorAll('nav [data-view]')) {
    tab.setAttribute('aria-current', tab.dataset.view === state.view ? 'page' : 'false');
  }
  $('from').value = showTime(state.from);
  $('until').value = showTime(state.until);
  $('selector').value = state.query;
  $('tenant').value = state.tenant;
  if (state.tenant) $('tenant-field').hidden = false;
  const preset = $('preset');
  preset.value = state.until === 'now' && [...preset.options].some((o) => o.value === state.from) ? state.from : '';
}

function render() {
  syncControls();
  showError(null);
  const main = $('view');
  const gen = ++generation;
  if (!state.service || !state.type) {
    const empty = document.createElement('div');
    empty.className = 'empty';
    empty.textContent = 'No profiles in this time range. Push profiles to Kiln (port 4040) or widen the range.';
    main.replaceChildren(empty);
    document.body.dataset.ready = 'true';
    return;
  }
  // `body[data-ready]` turns true when the view has everything it asked for.
  document.body.dataset.ready = 'false';
  renderView(ctx, main, () => gen === generation)
    .catch((err) => showError(err))
    .finally(() => {
      if (gen === generation) document.body.dataset.ready = 'true';
    });
}

async function start() {
  syncControls();
  try {
    ctx.range();
    await loadServices();
    await loadTypes();
  } catch (err) {
    // Nothing to show without services: keep the error in view.
    generation++;
    $('view').replaceChildren();
    showError(err);
    document.body.dataset.ready = 'true';
    return;
  }
  ctx.refresh();
}

state.typeFromUrl = Boolean(state.type);
setTenant(state.tenant);
bindControls();
start();
export { VIEWS };
