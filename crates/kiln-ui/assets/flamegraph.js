// Canvas flame graph: draws a decoded graph (model.js) top-down, with hover
// tooltips, click to zoom, search highlighting and diff colouring. Drawing is
// one pass over the typed arrays; nodes narrower than half a pixel are
// skipped and labels are cut by a measured character width, so thousands of
// nodes draw within a frame.

import { formatValue, percent, change } from './format.js';

const ROW = 18;
const FONT = '12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';

// Warm/cool pastel palette in the spirit of Pyroscope's: one colour per
// package, so a library's frames read as one block.
const PALETTE = [
  [223, 128, 79], [232, 168, 90], [214, 195, 95], [175, 196, 99], [126, 188, 116],
  [101, 184, 160], [96, 168, 200], [118, 140, 214], [152, 128, 214], [196, 126, 200],
  [222, 122, 154], [210, 110, 110], [190, 160, 130], [140, 180, 190], [170, 200, 150],
];

function packageOf(name) {
  const slash = name.lastIndexOf('/');
  const rest = slash >= 0 ? name.slice(slash + 1) : name;
  const dot = rest.indexOf('.');
  const sep = rest.indexOf('::');
  let cut = rest.length;
  if (dot > 0) cut = Math.min(cut, dot);
  if (sep > 0) cut = Math.min(cut, sep);
  return (slash >= 0 ? name.slice(0, slash + 1) : '') + rest.slice(0, cut);
}

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Colour of a function in the single view. */
export function nameColor(name) {
  const [r, g, b] = PALETTE[hash(packageOf(name)) % PALETTE.length];
  return `rgb(${r},${g},${b})`;
}

/**
 * Diff colour of node i: red for growth, green for shrinking, grey when
 * unchanged. `relative` compares shares of each side's total (as Pyroscope);
 * `absolute` compares raw values scaled by the largest absolute change.
 */
export function diffChange(g, i, mode, maxAbsDelta) {
  const d = g.diff;
  const lt = d.leftTotal[i];
  const rt = d.rightTotal[i];
  if (mode === 'absolute') {
    const delta = rt - lt;
    return maxAbsDelta > 0 ? delta / maxAbsDelta : 0;
  }
  const ls = d.leftTicks ? lt / d.leftTicks : 0;
  const rs = d.rightTicks ? rt / d.rightTicks : 0;
  if (ls === 0) return rs > 0 ? 1 : 0;
  return Math.max(-1, Math.min(1, (rs - ls) / ls));
}

function diffColor(c) {
  if (Math.abs(c) < 0.01) return 'rgb(200,200,200)';
  const t = Math.min(1, 0.25 + 0.75 * Math.abs(c));
  // Blend from light grey to a strong red or green.
  const [r, g, b] = c > 0 ? [224, 62, 62] : [48, 170, 72];
  const mix = (from, to) => Math.round(from + (to - from) * t);
  return `rgb(${mix(215, r)},${mix(215, g)},${mix(215, b)})`;
}

/** One flame graph on a canvas inside `container`. */
export class FlameGraph {
  /**
   * @param {HTMLElement} container
   * @param {{unit?: string, label?: string, onZoom?: (name: string|null) => void}} options
   */
  constructor(container, options = {}) {
    this.container = container;
    this.options = options;
    this.unit = options.unit || '';
    this.graph = null;
    this.zoomIndex = 0;
    this.search = '';
    this.diffMode = 'relative';
    this.drawnNodes = [];
    this.matches = 0;
    this.lastRenderMs = 0;

    container.classList.add('flamegraph');
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', options.label || 'Flame graph');
    this.tooltip = document.createElement('div');
    this.tooltip.className = 'fg-tooltip';
    this.tooltip.hidden = true;
    container.append(this.canvas, this.tooltip);
    this.ctx = this.canvas.getContext('2d');
    this.ctx.font = FONT;
    this.charWidth = this.ctx.measureText('mmmmmmmmmm').width / 10;

    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => (this.tooltip.hidden = true));
    this.canvas.addEventListener('click', (e) => {
      const i = this.nodeAt(e);
      if (i >= 0) this.zoom(i === this.zoomIndex ? this.graph.parent[i] : i);
    });
    // Keyboard: the canvas takes focus; Escape resets the zoom.
    this.canvas.tabIndex = 0;
    this.canvas.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.reset();
    });
    // Redraw on resize while attached; stop watching once the view is gone.
    this.resizeObserver = new ResizeObserver(() => {
      if (this.container.isConnected) this.render();
      else this.resizeObserver.disconnect();
    });
    this.resizeObserver.observe(container);
  }

  /** Shows a new graph, keeping the zoom on a node of the same name path if any. */
  setData(graph, unit) {
    this.graph = graph;
    if (unit !== undefined) this.unit = unit;
    this.zoomIndex = 0;
    this.render();
  }

  /** Zooms on node i (0 or -1 resets). */
  zoom(i) {
    this.zoomIndex = Math.max(0, i);
    this.tooltip.hidden = true;
    this.render();
    if (this.options.onZoom) this.options.onZoom(this.zoomIndex > 0 ? this.zoomPath() : null);
  }

  /** Zooms on the first node whose root path matches `path` (names joined by ';'). */
  zoomToPath(path) {
    if (!this.graph || !path) return;
    for (let i = 1; i < this.graph.n; i++) {
      if (this.pathOf(i) === path) {
        this.zoomIndex = i;
        this.render();
        return;
      }
    }
  }

  pathOf(i) {
    const g = this.graph;
    const parts = [];
    for (let p = i; p > 0; p = g.parent[p]) parts.push(g.names[g.name[p]]);
    return parts.reverse().join(';');
  }

  zoomPath() {
    return this.pathOf(this.zoomIndex);
  }

  reset() {
    this.zoom(0);
  }

  setSearch(text) {
    this.search = (text || '').toLowerCase();
    this.render();
  }

  setDiffMode(mode) {
    this.diffMode = mode;
    this.render();
  }

  /** Draws the graph; returns the time taken in ms. */
  render() {
    const t0 = performance.now();
    const g = this.graph;
    const cssWidth = Math.max(100, this.container.clientWidth || 800);
    const depth = g ? g.depth : 0;
    const cssHeight = Math.max(ROW, depth * ROW);
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(cssWidth * dpr);
    const H = Math.round(cssHeight * dpr);
    if (this.canvas.width !== W || this.canvas.height !== H) {
      this.canvas.width = W;
      this.canvas.height = H;
      this.canvas.style.width = `${cssWidth}px`;
      this.canvas.style.height = `${cssHeight}px`;
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    this.drawnNodes = [];
    this.matches = 0;
    this.cssWidth = cssWidth;
    if (!g || g.n === 0) {
      this.lastRenderMs = performance.now() - t0;
      return this.lastRenderMs;
    }
    const z = this.zoomIndex;
    const zx = g.x[z];
    const zw = g.width[z] || 1;
    const zl = g.level[z];
    const scale = cssWidth / zw;
    const search = this.search;
    let maxAbsDelta = 0;
    if (g.diff && this.diffMode === 'absolute') {
      for (let i = 0; i < g.n; i++) {
        const d = Math.abs(g.diff.rightTotal[i] - g.diff.leftTotal[i]);
        if (d > maxAbsDelta) maxAbsDelta = d;
      }
    }
    const cw = this.charWidth;
    const nameColors = new Map();
    for (let i = 0; i < g.n; i++) {
      let left = (g.x[i] - zx) * scale;
      let right = left + g.width[i] * scale;
      if (right <= 0 || left >= cssWidth) continue;
      if (right - left < 0.5) continue;
      const level = g.level[i];
      if (left < 0) left = 0;
      if (right > cssWidth) right = cssWidth;
      const w = right - left;
      const y = level * ROW;
      const name = g.names[g.name[i]];
      const matched = search !== '' && name.toLowerCase().includes(search);
      if (matched) this.matches++;
      let color;
      if (search !== '' && !matched) {
        color = 'rgb(228,228,228)';
      } else if (matched) {
        color = 'rgb(255,0,204)';
      } else if (g.diff) {
        color = diffColor(diffChange(g, i, this.diffMode, maxAbsDelta));
      } else if (i === 0 && name === 'total') {
        color = 'rgb(160,160,160)';
      } else {
        color = nameColors.get(name);
        if (!color) {
          color = nameColor(name);
          nameColors.set(name, color);
        }
      }
      const faded = level < zl;
      ctx.globalAlpha = faded ? 0.45 : 1;
      ctx.fillStyle = color;
      ctx.fillRect(left, y, w > 1.5 ? w - 1 : w, ROW - 1);
      let label = '';
      if (w > 3 * cw + 6) {
        const fit = Math.floor((w - 6) / cw);
        label = name.length <= fit ? name : `${name.slice(0, Math.max(1, fit - 1))}…`;
        ctx.fillStyle = '#222';
        ctx.fillText(label, left + 3, y + ROW / 2);
      }
      this.drawnNodes.push(i, left, w, label.length);
    }
    ctx.globalAlpha = 1;
    this.canvas.dataset.nodes = String(this.drawnNodes.length / 4);
    this.canvas.dataset.matches = String(this.matches);
    this.canvas.dataset.zoom = z > 0 ? this.pathOf(z) : '';
    this.lastRenderMs = performance.now() - t0;
    return this.lastRenderMs;
  }

  /** Index of the node under a mouse event, or -1. */
  nodeAt(e) {
    const g = this.graph;
    if (!g) return -1;
    const rect = this.canvas.getBoundingClientRect();
    const px = e.clientX - rect.left;
    const level = Math.floor((e.clientY - rect.top) / ROW);
    if (level < 0 || level >= g.depth) return -1;
    const scale = this.cssWidth / (g.width[this.zoomIndex] || 1);
    const vx = g.x[this.zoomIndex] + px / scale;
    for (let i = g.levelStart[level]; i < g.levelStart[level + 1]; i++) {
      if (g.x[i] <= vx && vx < g.x[i] + g.width[i]) return i;
    }
    return -1;
  }

  /** Tooltip text lines for node i. */
  describe(i) {
    const g = this.graph;
    const name = g.names[g.name[i]];
    const u = this.unit;
    if (g.diff) {
      const d = g.diff;
      const lt = d.leftTotal[i];
      const rt = d.rightTotal[i];
      return [
        name,
        `baseline: ${formatValue(lt, u)} (${percent(lt, d.leftTicks)}), self ${formatValue(d.leftSelf[i], u)}`,
        `comparison: ${formatValue(rt, u)} (${percent(rt, d.rightTicks)}), self ${formatValue(d.rightSelf[i], u)}`,
        `change: ${change(lt, rt)} absolute, ${change(d.leftTicks ? lt / d.leftTicks : 0, d.rightTicks ? rt / d.rightTicks : 0)} of share`,
      ];
    }
    const root = g.rootTotal;
    return [
      name,
      `total: ${formatValue(g.total[i], u)} (${percent(g.total[i], root)})`,
      `self: ${formatValue(g.self[i], u)} (${percent(g.self[i], root)})`,
    ];
  }

  hover(e) {
    const i = this.nodeAt(e);
    if (i < 0) {
      this.tooltip.hidden = true;
      return;
    }
    const lines = this.describe(i);
    this.tooltip.replaceChildren(
      ...lines.map((line, k) => {
        const div = document.createElement('div');
        div.textContent = line;
        if (k === 0) div.className = 'fg-tooltip-title';
        return div;
      }),
    );
    this.tooltip.hidden = false;
    const rect = this.container.getBoundingClientRect();
    const x = e.clientX - rect.left + 14;
    const y = e.clientY - rect.top + 14;
    const maxX = this.container.clientWidth - this.tooltip.offsetWidth - 4;
    this.tooltip.style.left = `${Math.max(0, Math.min(x, maxX))}px`;
    this.tooltip.style.top = `${y}px`;
  }

  /**
   * The nodes as drawn, for tests and assistive tools: name, box in CSS
   * pixels relative to the canvas, values and the label text shown.
   */
  drawn() {
    const g = this.graph;
    const out = [];
    for (let k = 0; k < this.drawnNodes.length; k += 4) {
      const i = this.drawnNodes[k];
      const name = g.names[g.name[i]];
      const node = {
        name,
        path: this.pathOf(i),
        x: this.drawnNodes[k + 1],
        y: g.level[i] * ROW,
        width: this.drawnNodes[k + 2],
        height: ROW - 1,
        total: g.total[i],
        self: g.self[i],
        label: this.drawnNodes[k + 3] > 0,
        match: this.search !== '' && name.toLowerCase().includes(this.search),
      };
      if (g.diff) {
        node.left = g.diff.leftTotal[i];
        node.right = g.diff.rightTotal[i];
        node.change = diffChange(g, i, this.diffMode, this.maxAbsDelta());
        node.color = diffColor(node.change);
      }
      out.push(node);
    }
    return out;
  }

  maxAbsDelta() {
    const g = this.graph;
    let m = 0;
    if (g && g.diff) {
      for (let i = 0; i < g.n; i++) m = Math.max(m, Math.abs(g.diff.rightTotal[i] - g.diff.leftTotal[i]));
    }
    return m;
  }

  /** The colour drawn at a canvas point (CSS pixels), read back from the canvas. */
  pixel(x, y) {
    const dpr = window.devicePixelRatio || 1;
    const d = this.ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
    return `rgb(${d[0]},${d[1]},${d[2]})`;
  }
}
