// The timeline: an SVG area chart of SelectSeries points over the query
// range. Dragging selects a time range (zoom in the single view; the
// baseline or comparison range in the comparison and diff views), shown as
// shaded bands.

import { axisTime, formatValue } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 120;
const PAD = { left: 56, right: 10, top: 8, bottom: 20 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A timeline chart in `container`; `onSelect(fromMs, untilMs)` on drag. */
export class Timeline {
  constructor(container, { onSelect, label } = {}) {
    this.container = container;
    this.onSelect = onSelect;
    this.series = [];
    this.from = 0;
    this.until = 1;
    this.bands = [];
    this.unit = '';
    container.classList.add('timeline');
    this.svg = el('svg', { role: 'img', 'aria-label': label || 'Timeline', height: HEIGHT });
    container.append(this.svg);
    this.svg.addEventListener('mousedown', (e) => this.startDrag(e));
    const observer = new ResizeObserver(() => {
      if (container.isConnected) this.draw();
      else observer.disconnect();
    });
    observer.observe(container);
  }

  /** `series`: [{name, color, points: [[ms, value]…]}]. */
  setData(series, from, until, unit) {
    this.series = series;
    this.from = from;
    this.until = until;
    this.unit = unit || '';
    this.draw();
  }

  /** Shaded ranges: [{from, until, className}]. */
  setBands(bands) {
    this.bands = bands;
    this.draw();
  }

  get width() {
    return Math.max(200, this.container.clientWidth || 800);
  }

  xOf(ms) {
    const w = this.width - PAD.left - PAD.right;
    return PAD.left + ((ms - this.from) / (this.until - this.from || 1)) * w;
  }

  msOf(x) {
    const w = this.width - PAD.left - PAD.right;
    const t = Math.max(0, Math.min(1, (x - PAD.left) / w));
    return this.from + t * (this.until - this.from);
  }

  draw() {
    const W = this.width;
    const svg = this.svg;
    svg.setAttribute('width', W);
    svg.setAttribute('viewBox', `0 0 ${W} ${HEIGHT}`);
    svg.replaceChildren();
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    let max = 0;
    for (const s of this.series) for (const [, v] of s.points) max = Math.max(max, v);
    const yOf = (v) => PAD.top + plotH - (max > 0 ? (v / max) * plotH : 0);
    svg.append(el('rect', { x: PAD.left, y: PAD.top, width: W - PAD.left - PAD.right, height: plotH, class: 'tl-bg' }));
    // Axes: 6 time ticks, max value.
    const span = this.until - this.from;
    for (let k = 0; k <= 5; k++) {
      const ms = this.from + (k / 5) * span;
      const x = this.xOf(ms);
      svg.append(el('line', { x1: x, x2: x, y1: PAD.top, y2: PAD.top + plotH, class: 'tl-grid' }));
      const anchor = k === 0 ? 'start' : k === 5 ? 'end' : 'middle';
      svg.append(el('text', { x, y: HEIGHT - 5, 'text-anchor': anchor, class: 'tl-axis' }, axisTime(ms, span)));
    }
    svg.append(el('text', { x: PAD.left - 4, y: PAD.top + 9, 'text-anchor': 'end', class: 'tl-axis' }, formatValue(max, this.unit)));
    svg.append(el('text', { x: PAD.left - 4, y: PAD.top + plotH, 'text-anchor': 'end', class: 'tl-axis' }, '0'));
    for (const band of this.bands) {
      const x1 = this.xOf(Math.max(band.from, this.from));
      const x2 = this.xOf(Math.min(band.until, this.until));
      if (x2 > x1) {
        svg.append(el('rect', { x: x1, y: PAD.top, width: Math.max(2, x2 - x1), height: plotH, class: `tl-band ${band.className || ''}` }));
      }
    }
    for (const s of this.series) {
      if (!s.points.length) continue;
      const pts = s.points.map(([t, v]) => `${this.xOf(t).toFixed(1)},${yOf(v).toFixed(1)}`);
      const base = (PAD.top + plotH).toFixed(1);
      const first = this.xOf(s.points[0][0]).toFixed(1);
      const last = this.xOf(s.points[s.points.length - 1][0]).toFixed(1);
      if (this.series.length === 1) {
        svg.append(el('path', { d: `M${first},${base} L${pts.join(' L')} L${last},${base} Z`, class: 'tl-area' }));
      }
      const line = el('path', { d: `M${pts.join(' L')}`, class: 'tl-line' });
      if (s.color) line.style.stroke = s.color;
      svg.append(line);
      // Dots mark the samples while there are few enough to tell apart.
      const samples = s.points.filter(([, v]) => v !== 0);
      for (const [t, v] of samples.length <= 60 ? samples : []) {
        const dot = el('circle', { cx: this.xOf(t), cy: yOf(v), r: 2.5, class: 'tl-point' });
        if (s.color) dot.style.fill = s.color;
        svg.append(dot);
      }
    }
    this.selection = el('rect', { x: 0, y: PAD.top, width: 0, height: plotH, class: 'tl-selection', visibility: 'hidden' });
    svg.append(this.selection);
  }

  startDrag(e) {
    if (e.button !== 0) return;
    e.preventDefault();
    const rect = this.svg.getBoundingClientRect();
    const x0 = e.clientX - rect.left;
    const move = (ev) => {
      const x1 = ev.clientX - rect.left;
      this.selection.setAttribute('visibility', 'visible');
      this.selection.setAttribute('x', Math.min(x0, x1));
      this.selection.setAttribute('width', Math.abs(x1 - x0));
    };
    const up = (ev) => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      this.selection.setAttribute('visibility', 'hidden');
      const x1 = ev.clientX - rect.left;
      if (Math.abs(x1 - x0) < 4) return;
      const a = Math.round(this.msOf(Math.min(x0, x1)));
      const b = Math.round(this.msOf(Math.max(x0, x1)));
      if (this.onSelect) this.onSelect(a, b);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  }
}
