// The view state, kept in the URL query so any view can be shared and
// reloaded as it was. Only non-default values are written.

const DEFAULTS = {
  view: 'single',
  service: '',
  type: '',
  query: '',
  from: 'now-1h',
  until: 'now',
  search: '',
  zoom: '',
  sort: 'self',
  fn: '',
  tag: '',
  lfrom: '',
  luntil: '',
  rfrom: '',
  runtil: '',
  rquery: '',
  mode: 'relative',
  tenant: '',
};

export const VIEWS = ['single', 'tags', 'comparison', 'diff'];

/** Reads the state from `location.search`, filling defaults. */
export function readState(search = location.search) {
  const params = new URLSearchParams(search);
  const state = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) {
    const v = params.get(key);
    if (v !== null) state[key] = v;
  }
  if (!VIEWS.includes(state.view)) state.view = 'single';
  if (state.mode !== 'absolute') state.mode = 'relative';
  return state;
}

/** The URL of a state (path kept, non-default values in the query). */
export function stateUrl(state) {
  const params = new URLSearchParams();
  for (const [key, def] of Object.entries(DEFAULTS)) {
    if (state[key] !== undefined && state[key] !== def) params.set(key, state[key]);
  }
  const q = params.toString();
  return `${location.pathname}${q ? `?${q}` : ''}`;
}

/** Writes the state into the address bar without a navigation. */
export function writeState(state) {
  const url = stateUrl(state);
  if (url !== location.pathname + location.search) history.replaceState(null, '', url);
}
