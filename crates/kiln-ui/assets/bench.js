// Benchmark page: a deterministic synthetic flame graph of N nodes (default
// 10,000; `?nodes=`) in the API's JSON encoding (int64 as strings), timed
// through decode and canvas render. Results go to #result and
// `window.benchResult` (read by tests/ui).

import { FlameGraph } from './flamegraph.js';
import { decode, fromTree, treeNode } from './model.js';

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A call tree of exactly `count` nodes (root included), depth up to ~40. */
export function syntheticTree(count, seed = 42) {
  const rand = rng(seed);
  const root = treeNode('total');
  const nodes = [{ node: root, depth: 0 }];
  let made = 1;
  while (made < count) {
    // Prefer recent nodes so stacks get deep, like real programs.
    const pick = nodes[Math.max(0, nodes.length - 1 - Math.floor(rand() ** 3 * nodes.length))];
    if (pick.depth >= 40) continue;
    const name = `github.com/acme/pkg${Math.floor(rand() * 40)}.Function${Math.floor(rand() * 600)}`;
    if (pick.node.children.has(name)) continue;
    const child = treeNode(name);
    child.self = 1 + Math.floor(rand() * 1000);
    pick.node.children.set(name, child);
    nodes.push({ node: child, depth: pick.depth + 1 });
    made++;
  }
  return root;
}

/**
 * `chains` stacks of `depth` frames under the root (chains × depth + 1
 * nodes): every node is wide enough to be drawn, the worst case for the
 * renderer at a given node count.
 */
export function chainTree(chains, depth) {
  const root = treeNode('total');
  for (let c = 0; c < chains; c++) {
    let at = root;
    for (let d = 0; d < depth; d++) {
      const node = treeNode(`github.com/acme/pkg${(c + d) % 40}.Chain${c}Frame${d}`);
      at.children.set(node.name, node);
      at = node;
    }
    at.self = 100;
  }
  return root;
}

/** Encodes a decoded graph back into the API's `FlameGraph` JSON. */
export function encodeLevels(g) {
  const levels = [];
  for (let d = 0; d < g.depth; d++) {
    const values = [];
    let prev = 0;
    for (let i = g.levelStart[d]; i < g.levelStart[d + 1]; i++) {
      values.push(String(g.x[i] - prev), String(g.total[i]), String(g.self[i]), String(g.name[i]));
      prev = g.x[i] + g.total[i];
    }
    levels.push({ values });
  }
  return { names: g.names, levels, total: String(g.rootTotal), maxSelf: '0' };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Times decode (25 runs) and render (first, then 25 more) of one graph. */
function measure(fg, json) {
  const decodeTimes = [];
  const renderTimes = [];
  let graph;
  for (let k = 0; k < 25; k++) {
    const t0 = performance.now();
    graph = decode(json);
    decodeTimes.push(performance.now() - t0);
  }
  const firstStart = performance.now();
  fg.setData(graph);
  const first = performance.now() - firstStart;
  for (let k = 0; k < 25; k++) renderTimes.push(fg.render());
  // Search highlighting redraws everything too.
  fg.setSearch('Function1');
  const searchRender = fg.lastRenderMs;
  fg.setSearch('');
  const result = {
    nodes: graph.n,
    depth: graph.depth,
    drawn: fg.drawnNodes.length / 4,
    decodeMedianMs: median(decodeTimes),
    firstRenderMs: first,
    renderMedianMs: median(renderTimes),
    renderMaxMs: Math.max(...renderTimes),
    searchRenderMs: searchRender,
  };
  result.decodePlusRenderMs = result.decodeMedianMs + result.renderMedianMs;
  return result;
}

async function run() {
  const nodes = Number(new URLSearchParams(location.search).get('nodes') || 10000);
  const fg = new FlameGraph(document.getElementById('flamegraph'), { label: 'Benchmark flame graph' });
  const results = {
    // A realistic shape: many narrow leaves (most under half a pixel).
    random: measure(fg, encodeLevels(fromTree(syntheticTree(nodes)))),
    // Every node drawn: (nodes - 1) / 99 stacks, 99 frames deep (10,000 = 1 + 101 × 99).
    allVisible: measure(fg, encodeLevels(fromTree(chainTree(Math.floor((nodes - 1) / 99), 99)))),
  };
  document.getElementById('result').textContent = JSON.stringify(results, null, 2);
  window.benchResult = results;
}

run().catch((err) => {
  document.getElementById('result').textContent = `failed: ${err.message}`;
  window.benchResult = { error: err.message };
});
