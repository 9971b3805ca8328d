// The four views. Each builds its DOM in `main`, loads what it shows through
// the query API and keeps its choices in `ctx.state` (so in the URL).
// `current()` turns false once another render has started: late answers of
// an abandoned view are dropped.

import { mergedPprof } from './api.js';
import { FlameGraph } from './flamegraph.js';
import { formatValue, formatTime, percent, resolveTime } from './format.js';
import { decode, functionTable, sandwich } from './model.js';
import { Timeline } from './timeline.js';
import { diffTable, topTable } from './table.js';

const SERIES_COLORS = ['#3b7dd8', '#e0803c', '#3aa35b', '#c9463d', '#8a63c9', '#8c6d46', '#d46ab4', '#6f7a86', '#b8b23a', '#36a9b8'];

/** Renders the view named by `ctx.state.view`. */
export function renderView(ctx, main, current) {
  const views = { single, tags, comparison: (c, m, cur) => twoRanges(c, m, cur, false), diff: (c, m, cur) => twoRanges(c, m, cur, true) };
  ctx.graphs = {};
  return views[ctx.state.view](ctx, main, current);
}

/** Marks a panel loading, empty, failed or ready, with words for people. */
function status(el, kind, text) {
  el.dataset.state = kind;
  let box = el.querySelector(':scope > .status');
  if (kind === 'ready') {
    if (box) box.remove();
    return;
  }
  if (!box) {
    box = document.createElement('div');
    box.className = 'status';
    el.prepend(box);
  }
  box.className = `status ${kind}`;
  box.textContent = text;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

function failed(ctx, el, err) {
  status(el, 'error', `${err.method ? `${err.method} failed: ` : ''}${err.message}`);
  ctx.showError(err);
}

function stepFor(start, end) {
  return Math.max(10, Math.round((end - start) / 1000 / 240));
}

/** Loads SelectSeries into a timeline: one series, or one per `groupBy` value. */
async function loadTimeline(ctx, tl, { start, end }, labelSelector, groupBy) {
  const s = ctx.state;
  const res = await ctx.api('SelectSeries', {
    profileTypeID: s.type,
    labelSelector,
    start,
    end,
    step: stepFor(start, end),
    aggregation: ctx.isGauge() ? 'TIME_SERIES_AGGREGATION_TYPE_AVERAGE' : 'TIME_SERIES_AGGREGATION_TYPE_SUM',
    groupBy: groupBy ? [groupBy] : [],
  });
  let series = (res.series || []).map((sr, k) => {
    const label = (sr.labels || []).find((l) => l.name === groupBy);
    return {
      name: label ? label.value : '',
      color: groupBy ? SERIES_COLORS[k % SERIES_COLORS.length] : '',
      points: (sr.points || []).map((p) => [Number(p.timestamp), p.value]),
    };
  });
  if (!groupBy && series.length > 1) {
    const merged = new Map();
    for (const sr of series) for (const [t, v] of sr.points) merged.set(t, (merged.get(t) || 0) + v);
    series = [{ name: '', color: '', points: [...merged].sort((a, b) => a[0] - b[0]) }];
  }
  // SelectSeries is sparse: draw missing steps as zero, not as a slope.
  const stepMs = stepFor(start, end) * 1000;
  const filled = series.map((sr) => {
    const at = new Map(sr.points);
    const grid = [];
    for (let t = start; t <= end; t += stepMs) grid.push([t, at.get(t) || 0]);
    const onGrid = grid.filter(([, v]) => v !== 0).length === sr.points.filter(([, v]) => v !== 0).length;
    return { ...sr, points: onGrid ? grid : sr.points };
  });
  tl.setData(filled, start, end, ctx.unit());
  return series;
}

function mergeRequest(ctx, range, labelSelector) {
  return {
    profileTypeID: ctx.state.type,
    labelSelector,
    start: range.start,
    end: range.end,
    format: 'PROFILE_FORMAT_FLAMEGRAPH',
  };
}

function download(data, filename, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function fileStem(ctx, start) {
  const type = ctx.state.type.split(':').slice(0, 2).join('-');
  return `kiln-${ctx.state.service}-${type}-${new Date(start).toISOString().replace(/[:.]/g, '')}`.replace(/[^\w.-]+/g, '_');
}

function searchBox(ctx, graphs) {
  const input = document.getElementById('search');
  const matches = document.getElementById('matches');
  input.value = ctx.state.search;
  const apply = () => {
    ctx.state.search = input.value;
    let n = 0;
    for (const g of graphs()) {
      g.setSearch(input.value);
      n += g.matches;
    }
    matches.textContent = input.value ? `${n} match${n === 1 ? '' : 'es'}` : '';
    ctx.save();
  };
  input.addEventListener('input', apply);
  return apply;
}

// --- single view ------------------------------------------------------------

async function single(ctx, main, current) {
  const s = ctx.state;
  const unit = ctx.unit();
  main.innerHTML = `
    <section class="card"><div class="card-head"><h2>Timeline</h2><span class="muted">drag to zoom into a time range</span></div><div id="timeline" class="panel"></div></section>
    <div class="toolbar">
      <input id="search" type="search" placeholder="Search functions…" aria-label="Search functions">
      <span id="matches" class="muted"></span>
      <button id="reset" type="button">Reset zoom</button>
      <span class="spacer"></span>
      <button id="export-pprof" type="button">Export pprof</button>
      <button id="export-json" type="button">Export flame graph JSON</button>
    </div>
    <div class="split">
      <section class="card table-card"><div class="card-head"><h2>Top functions</h2><span class="muted">click a row for its sandwich view</span></div><div id="table" class="panel scroll"></div></section>
      <section class="card"><div class="card-head"><h2>Flame graph</h2><span id="fg-total" class="muted"></span></div><div id="flamegraph" class="panel"></div></section>
    </div>
    <section id="sandwich" class="card" hidden>
      <div class="card-head"><h2>Sandwich view of <code id="sandwich-name"></code></h2><button id="sandwich-close" type="button">Close</button></div>
      <div class="split even">
        <div><h3>Callers</h3><div id="callers" class="panel"></div></div>
        <div><h3>Callees</h3><div id="callees" class="panel"></div></div>
      </div>
    </section>`;
  const range = ctx.range();
  const selector = ctx.selector();
  const tlEl = document.getElementById('timeline');
  const fgEl = document.getElementById('flamegraph');
  const tableEl = document.getElementById('table');
  const tl = new Timeline(tlEl, {
    label: 'Timeline of the selected profiles',
    onSelect(a, b) {
      s.from = String(a);
      s.until = String(b);
      s.zoom = '';
      ctx.refresh();
    },
  });
  const fg = new FlameGraph(fgEl, {
    unit,
    label: 'Flame graph',
    onZoom(path) {
      s.zoom = path || '';
      ctx.save();
    },
  });
  ctx.graphs.single = fg;
  const applySearch = searchBox(ctx, () => [fg, ctx.graphs.callers, ctx.graphs.callees].filter(Boolean));
  document.getElementById('reset').addEventListener('click', () => fg.reset());
  status(tlEl, 'loading', 'Loading timeline…');
  status(fgEl, 'loading', 'Loading flame graph…');
  status(tableEl, 'loading', 'Loading…');

  let answer = null;
  let graph = null;
  document.getElementById('export-json').addEventListener('click', () => {
    if (!answer) return;
    const doc = { profileTypeID: s.type, labelSelector: selector, start: range.start, end: range.end, flamegraph: answer.flamegraph || {} };
    download(JSON.stringify(doc), `${fileStem(ctx, range.start)}.flamegraph.json`, 'application/json');
  });
  document.getElementById('export-pprof').addEventListener('click', async () => {
    try {
      const bytes = await ctx.track(mergedPprof({ profileTypeID: s.type, labelSelector: selector, start: range.start, end: range.end }));
      download(bytes, `${fileStem(ctx, range.start)}.pb.gz`, 'application/gzip');
    } catch (err) {
      ctx.showError(err, 'pprof export');
    }
  });

  const drawTable = () => {
    topTable(tableEl, functionTable(graph), {
      unit,
      grandTotal: graph.rootTotal,
      sort: s.sort,
      selected: s.fn,
      onSort(key) {
        s.sort = key;
        ctx.save();
        drawTable();
      },
      onPick(name) {
        s.fn = s.fn === name ? '' : name;
        ctx.save();
        drawTable();
        drawSandwich();
      },
    });
  };
  const drawSandwich = () => {
    const box = document.getElementById('sandwich');
    if (!s.fn || !graph || !graph.names.includes(s.fn)) {
      box.hidden = true;
      delete ctx.graphs.callers;
      delete ctx.graphs.callees;
      return;
    }
    box.hidden = false;
    document.getElementById('sandwich-name').textContent = s.fn;
    const both = sandwich(graph, s.fn);
    for (const side of ['callers', 'callees']) {
      const el = document.getElementById(side);
      if (!ctx.graphs[side]) {
        el.replaceChildren();
        ctx.graphs[side] = new FlameGraph(el, { unit, label: `${side} of ${s.fn}` });
      }
      ctx.graphs[side].setData(both[side], unit);
      ctx.graphs[side].setSearch(s.search);
    }
  };
  document.getElementById('sandwich-close').addEventListener('click', () => {
    s.fn = '';
    ctx.save();
    drawTable();
    drawSandwich();
  });

  const timeline = loadTimeline(ctx, tl, range, selector).then(
    (series) => status(tlEl, series.length ? 'ready' : 'empty', 'No samples in this range.'),
    (err) => current() && failed(ctx, tlEl, err),
  );
  try {
    answer = await ctx.api('SelectMergeStacktraces', mergeRequest(ctx, range, selector));
  } catch (err) {
    if (current()) {
      failed(ctx, fgEl, err);
      status(tableEl, 'error', 'No table: the flame graph query failed.');
    }
    return;
  }
  if (!current()) return;
  graph = decode(answer.flamegraph);
  if (!graph.rootTotal) {
    const words = `No ${s.type} profiles match ${selector} between ${formatTime(range.start)} and ${formatTime(range.end)}.`;
    status(fgEl, 'empty', words);
    status(tableEl, 'empty', 'Nothing to list.');
  } else {
    status(fgEl, 'ready');
    status(tableEl, 'ready');
    document.getElementById('fg-total').textContent = `total ${formatValue(graph.rootTotal, unit)}`;
    fg.setData(graph, unit);
    if (s.zoom) fg.zoomToPath(s.zoom);
    drawTable();
    drawSandwich();
  }
  applySearch();
  await timeline;
}

// --- tag explorer -------------------------------------------------------------

async function tags(ctx, main, current) {
  const s = ctx.state;
  const unit = ctx.unit();
  main.innerHTML = `
    <div class="toolbar"><label>Label <select id="tag-name" aria-label="Label to explore"></select></label>
      <span class="muted">each value's share of the selected profiles; click a value to filter by it</span></div>
    <section class="card"><div class="card-head"><h2>Timeline by value</h2></div><div id="timeline" class="panel"></div></section>
    <section class="card"><div class="card-head"><h2>Values</h2></div><div id="tag-table" class="panel"></div></section>`;
  const range = ctx.range();
  const selector = ctx.selector();
  const tlEl = document.getElementById('timeline');
  const tableEl = document.getElementById('tag-table');
  const pick = document.getElementById('tag-name');
  status(tableEl, 'loading', 'Loading labels…');
  let names;
  try {
    const res = await ctx.api('LabelNames', { matchers: [selector], start: range.start, end: range.end });
    names = (res.names || []).filter((n) => !n.startsWith('__') && n !== 'service_name');
  } catch (err) {
    if (current()) failed(ctx, tableEl, err);
    return;
  }
  if (!current()) return;
  pick.replaceChildren(...names.map((n) => new Option(n, n)));
  if (!names.includes(s.tag)) s.tag = names[0] || '';
  pick.value = s.tag;
  pick.addEventListener('change', () => {
    s.tag = pick.value;
    ctx.refresh();
  });
  ctx.save();
  if (!s.tag) {
    status(tableEl, 'empty', `The selected profiles carry no labels besides service_name.`);
    return;
  }
  const tl = new Timeline(tlEl, {
    label: `Timeline by ${s.tag}`,
    onSelect(a, b) {
      s.from = String(a);
      s.until = String(b);
      ctx.refresh();
    },
  });
  status(tableEl, 'loading', 'Loading values…');
  let series;
  try {
    series = await loadTimeline(ctx, tl, range, selector, s.tag);
  } catch (err) {
    if (current()) failed(ctx, tableEl, err);
    return;
  }
  if (!current()) return;
  const gauge = ctx.isGauge();
  const rows = series.map((sr) => {
    const sum = sr.points.reduce((a, [, v]) => a + v, 0);
    return { value: sr.name, color: sr.color, amount: gauge && sr.points.length ? sum / sr.points.length : sum };
  });
  const whole = rows.reduce((a, r) => a + r.amount, 0);
  rows.sort((a, b) => b.amount - a.amount);
  if (!rows.length) {
    status(tableEl, 'empty', 'No samples in this range.');
    return;
  }
  status(tableEl, 'ready');
  const table = document.createElement('table');
  table.className = 'tag-table';
  table.innerHTML = `<thead><tr><th class="name"></th><th class="num">${gauge ? 'Average' : 'Total'}</th><th class="num">Share</th><th class="chart">Chart</th></tr></thead>`;
  table.querySelector('th.name').textContent = s.tag;
  const body = document.createElement('tbody');
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.dataset.value = r.value;
    tr.tabIndex = 0;
    tr.title = `Show ${s.tag}="${r.value}" in the single view`;
    const share = whole ? (100 * r.amount) / whole : 0;
    tr.innerHTML = '<td class="name"><span class="swatch"></span><span class="v"></span></td><td class="num amount"></td><td class="num share"></td><td class="chart"><div class="share-bar"></div></td>';
    tr.querySelector('.swatch').style.background = r.color;
    tr.querySelector('.v').textContent = r.value || '(none)';
    tr.querySelector('.amount').textContent = formatValue(r.amount, unit);
    tr.querySelector('.share').textContent = percent(r.amount, whole);
    const bar = tr.querySelector('.share-bar');
    bar.style.width = `${share}%`;
    bar.style.background = r.color;
    const choose = () => {
      const matcher = `${s.tag}="${r.value.replace(/["\\]/g, '\\$&')}"`;
      let inner = s.query.trim().replace(/^\{|\}$/g, '').trim();
      inner = inner ? `${inner}, ${matcher}` : matcher;
      s.query = inner;
      s.view = 'single';
      ctx.refresh();
    };
    tr.addEventListener('click', choose);
    tr.addEventListener('keydown', (e) => e.key === 'Enter' && choose());
    body.append(tr);
  }
  table.append(body);
  tableEl.replaceChildren(table);
}

// --- comparison and diff ------------------------------------------------------

/** The baseline and comparison ranges: from the URL, else the halves of the range. */
function twoRangeState(ctx) {
  const s = ctx.state;
  const whole = ctx.range();
  const mid = Math.round((whole.start + whole.end) / 2);
  const at = (v, fallback) => (v ? resolveTime(v) : fallback);
  return {
    whole,
    left: { start: at(s.lfrom, whole.start), end: at(s.luntil, mid) },
    right: { start: at(s.rfrom, mid), end: at(s.runtil, whole.end) },
  };
}

function rangeText(r) {
  return `${formatTime(r.start, true)} – ${formatTime(r.end, true)}`;
}

async function twoRanges(ctx, main, current, isDiff) {
  const s = ctx.state;
  const unit = ctx.unit();
  main.innerHTML = `
    <div class="toolbar">
      <span>Drag on the timeline to select the</span>
      <label class="pill left"><input type="radio" name="drag" value="left" checked> baseline</label>
      <label class="pill right"><input type="radio" name="drag" value="right"> comparison</label>
      <form id="rquery-form" class="inline"><label>Comparison selector <input id="rquery" placeholder="same as baseline" aria-label="Comparison label selector" size="28"></label></form>
      ${isDiff ? `<span class="spacer"></span><span role="radiogroup" aria-label="Diff mode" class="modes">
        <label><input type="radio" name="mode" value="relative"> Relative (share of total)</label>
        <label><input type="radio" name="mode" value="absolute"> Absolute (${unit || 'value'})</label></span>` : ''}
    </div>
    <section class="card"><div class="card-head"><h2>Timeline</h2>
      <span class="legend"><span class="key left"></span><span id="left-range"></span><span class="key right"></span><span id="right-range"></span></span></div>
      <div id="timeline" class="panel"></div></section>
    <div class="toolbar">
      <input id="search" type="search" placeholder="Search functions…" aria-label="Search functions">
      <span id="matches" class="muted"></span>
      ${isDiff ? '<span class="legend diff-legend"><span class="key grew"></span>grew <span class="key shrank"></span>shrank <span class="key same"></span>unchanged</span><span class="spacer"></span><button id="export-json" type="button">Export diff JSON</button>' : ''}
    </div>
    ${isDiff
      ? `<div class="split"><section class="card table-card"><div class="card-head"><h2>Changed most</h2></div><div id="diff-table" class="panel scroll"></div></section>
         <section class="card"><div class="card-head"><h2>Diff flame graph</h2><button id="reset" type="button">Reset zoom</button></div><div id="flamegraph" class="panel"></div></section></div>`
      : `<div class="split even"><section class="card"><div class="card-head"><h2>Baseline</h2><span id="left-total" class="muted"></span></div><div id="fg-left" class="panel"></div></section>
         <section class="card"><div class="card-head"><h2>Comparison</h2><span id="right-total" class="muted"></span></div><div id="fg-right" class="panel"></div></section></div>`}`;
  const { whole, left, right } = twoRangeState(ctx);
  const leftSel = ctx.selector();
  const rightSel = s.rquery.trim() ? ctx.selector(s.rquery) : leftSel;
  document.getElementById('left-range').textContent = `baseline ${rangeText(left)}`;
  document.getElementById('right-range').textContent = `comparison ${rangeText(right)}`;
  const rq = document.getElementById('rquery');
  rq.value = s.rquery;
  document.getElementById('rquery-form').addEventListener('submit', (e) => {
    e.preventDefault();
    s.rquery = rq.value.trim();
    ctx.refresh();
  });
  const tlEl = document.getElementById('timeline');
  const tl = new Timeline(tlEl, {
    label: 'Timeline: drag to choose the baseline or comparison range',
    onSelect(a, b) {
      const side = main.querySelector('input[name=drag]:checked').value;
      if (side === 'left') {
        s.lfrom = String(a);
        s.luntil = String(b);
      } else {
        s.rfrom = String(a);
        s.runtil = String(b);
      }
      ctx.refresh();
    },
  });
  tl.setBands([
    { ...left, from: left.start, until: left.end, className: 'left' },
    { ...right, from: right.start, until: right.end, className: 'right' },
  ]);
  status(tlEl, 'loading', 'Loading timeline…');
  const timeline = loadTimeline(ctx, tl, whole, leftSel).then(
    (series) => status(tlEl, series.length ? 'ready' : 'empty', 'No samples in this range.'),
    (err) => current() && failed(ctx, tlEl, err),
  );
  if (isDiff) {
    await diffView(ctx, current, { left, right, leftSel, rightSel, unit });
  } else {
    await sideBySide(ctx, current, { left, right, leftSel, rightSel, unit });
  }
  await timeline;
}

async function sideBySide(ctx, current, { left, right, leftSel, rightSel, unit }) {
  const graphs = {};
  const apply = searchBox(ctx, () => Object.values(graphs));
  await Promise.all(
    [['left', left, leftSel], ['right', right, rightSel]].map(async ([side, range, sel]) => {
      const el = document.getElementById(`fg-${side}`);
      status(el, 'loading', 'Loading flame graph…');
      let answer;
      try {
        answer = await ctx.api('SelectMergeStacktraces', mergeRequest(ctx, range, sel));
      } catch (err) {
        if (current()) failed(ctx, el, err);
        return;
      }
      if (!current()) return;
      const graph = decode(answer.flamegraph);
      if (!graph.rootTotal) {
        status(el, 'empty', `No profiles match ${sel} in ${rangeText(range)}.`);
        return;
      }
      status(el, 'ready');
      const fg = new FlameGraph(el, { unit, label: `${side === 'left' ? 'Baseline' : 'Comparison'} flame graph` });
      fg.setData(graph, unit);
      graphs[side] = fg;
      ctx.graphs[side] = fg;
      document.getElementById(`${side}-total`).textContent = `total ${formatValue(graph.rootTotal, unit)}`;
    }),
  );
  apply();
}

async function diffView(ctx, current, { left, right, leftSel, rightSel, unit }) {
  const s = ctx.state;
  const el = document.getElementById('flamegraph');
  const tableEl = document.getElementById('diff-table');
  const fg = new FlameGraph(el, {
    unit,
    label: 'Diff flame graph',
    onZoom(path) {
      s.zoom = path || '';
      ctx.save();
    },
  });
  fg.diffMode = s.mode;
  ctx.graphs.diff = fg;
  let drawTable = () => {};
  for (const radio of document.querySelectorAll('input[name=mode]')) {
    radio.checked = radio.value === s.mode;
    radio.addEventListener('change', () => {
      s.mode = radio.value;
      ctx.save();
      fg.setDiffMode(s.mode);
      drawTable();
    });
  }
  const apply = searchBox(ctx, () => [fg]);
  document.getElementById('reset').addEventListener('click', () => fg.reset());
  status(el, 'loading', 'Loading diff…');
  status(tableEl, 'loading', 'Loading…');
  let answer;
  try {
    answer = await ctx.api('Diff', {
      left: mergeRequest(ctx, left, leftSel),
      right: mergeRequest(ctx, right, rightSel),
    });
  } catch (err) {
    if (current()) {
      failed(ctx, el, err);
      status(tableEl, 'error', 'No table: the diff query failed.');
    }
    return;
  }
  if (!current()) return;
  const graph = decode(answer.flamegraph, true);
  document.getElementById('export-json').addEventListener('click', () => {
    const doc = { profileTypeID: s.type, left: { labelSelector: leftSel, ...left }, right: { labelSelector: rightSel, ...right }, flamegraph: answer.flamegraph || {} };
    download(JSON.stringify(doc), `${fileStem(ctx, left.start)}.diff.json`, 'application/json');
  });
  if (!graph.rootTotal) {
    status(el, 'empty', `Neither range has profiles matching the selectors.`);
    status(tableEl, 'empty', 'Nothing to compare.');
    return;
  }
  status(el, 'ready');
  status(tableEl, 'ready');
  fg.setData(graph, unit);
  if (s.zoom) fg.zoomToPath(s.zoom);
  const rows = functionTable(graph);
  drawTable = () =>
    diffTable(tableEl, rows, { unit, leftTicks: graph.diff.leftTicks, rightTicks: graph.diff.rightTicks, mode: s.mode });
  drawTable();
  apply();
}

