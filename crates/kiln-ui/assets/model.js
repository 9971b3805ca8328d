// Flame-graph data: decoding the API's level encoding into flat typed arrays
// (fast to draw and to hit-test), building graphs from call trees (sandwich
// view, benchmark), and per-function tables.
//
// A decoded graph: nodes in level order, level d in [levelStart[d],
// levelStart[d+1]); x/width in the units of the drawing (for a diff, left +
// right, as both sides are aligned); parent index (-1 for the root).

const num = (v) => (typeof v === 'number' ? v : Number(v));

function alloc(n, depth, names, diff) {
  const g = {
    n, depth, names,
    x: new Float64Array(n), width: new Float64Array(n),
    total: new Float64Array(n), self: new Float64Array(n),
    name: new Int32Array(n), level: new Int32Array(n), parent: new Int32Array(n),
    levelStart: new Int32Array(depth + 1),
    diff: null,
  };
  if (diff) {
    g.diff = {
      leftTotal: new Float64Array(n), leftSelf: new Float64Array(n),
      rightTotal: new Float64Array(n), rightSelf: new Float64Array(n),
      leftTicks: 0, rightTicks: 0,
    };
  }
  return g;
}

/**
 * Decodes `FlameGraph` (4 values a node) or `FlameGraphDiff` (7 values a node)
 * as answered by SelectMergeStacktraces / Diff in Connect JSON.
 */
export function decode(fg, isDiff = false) {
  const stride = isDiff ? 7 : 4;
  const levels = (fg && fg.levels) || [];
  const names = (fg && fg.names) || [];
  let n = 0;
  for (const l of levels) n += ((l.values && l.values.length) || 0) / stride;
  const g = alloc(n, levels.length, names, isDiff);
  let i = 0;
  for (let d = 0; d < levels.length; d++) {
    g.levelStart[d] = i;
    const v = levels[d].values || [];
    let prevL = 0;
    let prevR = 0;
    let p = d > 0 ? g.levelStart[d - 1] : -1;
    for (let j = 0; j < v.length; j += stride, i++) {
      if (isDiff) {
        const lx = prevL + num(v[j]);
        const lt = num(v[j + 1]);
        const rx = prevR + num(v[j + 3]);
        const rt = num(v[j + 4]);
        prevL = lx + lt;
        prevR = rx + rt;
        g.x[i] = lx + rx;
        g.width[i] = lt + rt;
        g.total[i] = lt + rt;
        g.self[i] = num(v[j + 2]) + num(v[j + 5]);
        g.diff.leftTotal[i] = lt;
        g.diff.leftSelf[i] = num(v[j + 2]);
        g.diff.rightTotal[i] = rt;
        g.diff.rightSelf[i] = num(v[j + 5]);
        g.name[i] = num(v[j + 6]);
      } else {
        const x = prevL + num(v[j]);
        const t = num(v[j + 1]);
        prevL = x + t;
        g.x[i] = x;
        g.width[i] = t;
        g.total[i] = t;
        g.self[i] = num(v[j + 2]);
        g.name[i] = num(v[j + 3]);
      }
      g.level[i] = d;
      // Parents: the previous level's node whose box contains our left edge.
      if (d === 0) {
        g.parent[i] = -1;
      } else {
        // The last previous-level node with a box starting at or before ours.
        const end = g.levelStart[d];
        while (p + 1 < end && g.x[p + 1] <= g.x[i] && g.width[p + 1] > 0) p++;
        g.parent[i] = p;
      }
    }
  }
  g.levelStart[levels.length] = i;
  if (isDiff) {
    g.diff.leftTicks = num(fg.leftTicks || 0);
    g.diff.rightTicks = num(fg.rightTicks || 0);
  }
  g.rootTotal = n ? g.width[0] : 0;
  return g;
}

/**
 * Lays a call tree `{name, self, children: Map<name, node>}` (totals
 * computed here) out as a decoded graph, siblings sorted by name like the
 * server's encoding. The root is named `rootName`.
 */
export function fromTree(root) {
  const names = [];
  const index = new Map();
  const nameId = (s) => {
    let id = index.get(s);
    if (id === undefined) {
      id = names.length;
      names.push(s);
      index.set(s, id);
    }
    return id;
  };
  const totals = (node) => {
    let t = node.self;
    for (const c of node.children.values()) t += totals(c);
    node.total = t;
    return t;
  };
  totals(root);
  // Breadth-first: level by level, left to right.
  let level = [{ node: root, x: 0, parent: -1 }];
  const rows = [];
  while (level.length) {
    rows.push(level);
    const next = [];
    level.forEach((item, k) => {
      let x = item.x + item.node.self;
      const kids = [...item.node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const c of kids) {
        if (c.total > 0) next.push({ node: c, x, parentSlot: k });
        x += c.total;
      }
    });
    level = next;
  }
  let n = 0;
  for (const r of rows) n += r.length;
  const g = alloc(n, rows.length, names, false);
  let i = 0;
  rows.forEach((row, d) => {
    g.levelStart[d] = i;
    const base = d > 0 ? g.levelStart[d - 1] : 0;
    for (const item of row) {
      g.x[i] = item.x;
      g.width[i] = g.total[i] = item.node.total;
      g.self[i] = item.node.self;
      g.name[i] = nameId(item.node.name);
      g.level[i] = d;
      g.parent[i] = d === 0 ? -1 : base + item.parentSlot;
      i++;
    }
  });
  g.levelStart[rows.length] = i;
  g.rootTotal = n ? g.width[0] : 0;
  return g;
}

/** A fresh call-tree node for [`fromTree`]. */
export function treeNode(name) {
  return { name, self: 0, total: 0, children: new Map() };
}

function child(node, name) {
  let c = node.children.get(name);
  if (!c) {
    c = treeNode(name);
    node.children.set(name, c);
  }
  return c;
}

/** True when an ancestor of node i has the same name (recursion). */
function nestedInSame(g, i) {
  for (let p = g.parent[i]; p > 0; p = g.parent[p]) if (g.name[p] === g.name[i]) return true;
  return false;
}

/**
 * One row per function: self summed over its nodes, total over its
 * outermost nodes (so recursion is not counted twice). For a diff, the left
 * and right values too. The root (`total`) is left out.
 */
export function functionTable(g) {
  const rows = new Map();
  for (let i = 1; i < g.n; i++) {
    const id = g.name[i];
    let r = rows.get(id);
    if (!r) {
      r = { name: g.names[id], self: 0, total: 0, leftSelf: 0, rightSelf: 0, leftTotal: 0, rightTotal: 0 };
      rows.set(id, r);
    }
    r.self += g.self[i];
    if (g.diff) {
      r.leftSelf += g.diff.leftSelf[i];
      r.rightSelf += g.diff.rightSelf[i];
    }
    if (!nestedInSame(g, i)) {
      r.total += g.total[i];
      if (g.diff) {
        r.leftTotal += g.diff.leftTotal[i];
        r.rightTotal += g.diff.rightTotal[i];
      }
    }
  }
  return [...rows.values()];
}

/**
 * The sandwich view of one function: `callees` is the merged tree below its
 * outermost occurrences, `callers` the merged reversed paths above them
 * (function first, then its callers, then theirs), each as a decoded graph.
 */
export function sandwich(g, fnName) {
  const callees = treeNode(fnName);
  const callers = treeNode(fnName);
  const id = g.names.indexOf(fnName);
  // Children lists, built once.
  const kids = Array.from({ length: g.n }, () => []);
  for (let i = 1; i < g.n; i++) kids[g.parent[i]].push(i);
  const copy = (i, into) => {
    into.self += g.self[i];
    for (const k of kids[i]) copy(k, child(into, g.names[g.name[k]]));
  };
  for (let i = 1; i < g.n; i++) {
    if (g.name[i] !== id || nestedInSame(g, i)) continue;
    copy(i, callees);
    // Callers: the path up from i, each step weighted by i's total.
    let at = callers;
    const path = [];
    for (let p = g.parent[i]; p > 0; p = g.parent[p]) path.push(p);
    for (const p of path) at = child(at, g.names[g.name[p]]);
    at.self += g.total[i];
  }
  return { callers: fromTree(callers), callees: fromTree(callees) };
}
