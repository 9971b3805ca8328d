// Tables beside the flame graphs: the top table (self, total, name; sortable)
// and the diff table (functions that changed most).

import { formatValue, percent, change } from './format.js';

function cell(tag, text, className) {
  const td = document.createElement(tag);
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/**
 * Fills `container` with a sortable table of `rows` ({name, self, total}).
 * `sort` is self|total|name; `onSort(key)` and `onPick(name)` report clicks.
 */
export function topTable(container, rows, { unit, grandTotal, sort, selected, onSort, onPick }) {
  const sorted = [...rows].sort((a, b) => {
    if (sort === 'name') return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    return b[sort] - a[sort] || (a.name < b.name ? -1 : 1);
  });
  const table = document.createElement('table');
  table.className = 'top-table';
  const head = document.createElement('tr');
  for (const [key, title] of [['self', 'Self'], ['total', 'Total'], ['name', 'Function']]) {
    const th = cell('th', title, key === 'name' ? 'name' : 'num');
    th.dataset.sort = key;
    th.setAttribute('aria-sort', key === sort ? (key === 'name' ? 'ascending' : 'descending') : 'none');
    th.tabIndex = 0;
    th.addEventListener('click', () => onSort(key));
    head.append(th);
  }
  const thead = document.createElement('thead');
  thead.append(head);
  const tbody = document.createElement('tbody');
  for (const r of sorted.slice(0, 500)) {
    const tr = document.createElement('tr');
    tr.dataset.name = r.name;
    if (r.name === selected) tr.className = 'selected';
    const selfTd = cell('td', formatValue(r.self, unit), 'num');
    selfTd.title = percent(r.self, grandTotal);
    selfTd.style.setProperty('--share', `${grandTotal ? (100 * r.self) / grandTotal : 0}%`);
    selfTd.classList.add('bar');
    const totalTd = cell('td', formatValue(r.total, unit), 'num');
    totalTd.title = percent(r.total, grandTotal);
    tr.append(selfTd, totalTd, cell('td', r.name, 'name'));
    tr.addEventListener('click', () => onPick(r.name));
    tbody.append(tr);
  }
  table.append(thead, tbody);
  container.replaceChildren(table);
}

/**
 * The functions whose self value changed most between baseline and
 * comparison: by share of each side's total (relative) or by value (absolute).
 */
export function diffTable(container, rows, { unit, leftTicks, rightTicks, mode }) {
  const score = (r) => {
    if (mode === 'absolute') return r.rightSelf - r.leftSelf;
    return (rightTicks ? r.rightSelf / rightTicks : 0) - (leftTicks ? r.leftSelf / leftTicks : 0);
  };
  const sorted = rows
    .map((r) => ({ ...r, score: score(r) }))
    .filter((r) => r.score !== 0)
    .sort((a, b) => Math.abs(b.score) - Math.abs(a.score))
    .slice(0, 50);
  const table = document.createElement('table');
  table.className = 'diff-table';
  const head = document.createElement('tr');
  for (const t of ['Function', 'Baseline self', 'Comparison self', mode === 'absolute' ? 'Δ value' : 'Δ share']) {
    head.append(cell('th', t, t === 'Function' ? 'name' : 'num'));
  }
  const thead = document.createElement('thead');
  thead.append(head);
  const tbody = document.createElement('tbody');
  for (const r of sorted) {
    const tr = document.createElement('tr');
    tr.dataset.name = r.name;
    tr.className = r.score > 0 ? 'grew' : 'shrank';
    const delta = mode === 'absolute'
      ? `${r.score > 0 ? '+' : ''}${formatValue(r.score, unit)} (${change(r.leftSelf, r.rightSelf)})`
      : `${r.score > 0 ? '+' : ''}${(100 * r.score).toFixed(2)} pp`;
    tr.append(
      cell('td', r.name, 'name'),
      cell('td', `${formatValue(r.leftSelf, unit)} (${percent(r.leftSelf, leftTicks)})`, 'num'),
      cell('td', `${formatValue(r.rightSelf, unit)} (${percent(r.rightSelf, rightTicks)})`, 'num'),
      cell('td', delta, 'num delta'),
    );
    tbody.append(tr);
  }
  if (!sorted.length) {
    const tr = document.createElement('tr');
    const td = cell('td', 'No function changed.', 'empty');
    td.colSpan = 4;
    tr.append(td);
    tbody.append(tr);
  }
  table.append(thead, tbody);
  container.replaceChildren(table);
}
