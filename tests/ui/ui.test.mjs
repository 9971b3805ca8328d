// Browser tests of Kiln's web UI in Debian's Chromium, driven by
// playwright-core against a server that tests/suites/30-ui.sh filled with
// known folded stacks: a baseline range (UI_LEFT_FROM, 3 pushes) and a
// comparison range (UI_RIGHT_FROM, 3 pushes) where `render` grew and
// `cache.Fill` appeared. Every page fails its test on a console error.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const URL_BASE = process.env.KILN_URL;
assert.ok(URL_BASE, 'KILN_URL must point at a running Kiln (tests/suites/30-ui.sh sets it)');
const NOW = Number(process.env.UI_NOW);
const LEFT_FROM = Number(process.env.UI_LEFT_FROM);
const RIGHT_FROM = Number(process.env.UI_RIGHT_FROM);
const HERE = dirname(fileURLToPath(import.meta.url));
const IMAGES = join(HERE, '..', '..', 'docs', 'images');
const SCREENSHOTS = process.env.KILN_UI_SCREENSHOTS === '1';

// Known data: samples of 10 ms (sampleRate=100) in nanoseconds.
const SAMPLE = 1e7;
const LEFT_TOTAL = 990 * SAMPLE;
const RIGHT_TOTAL = 1770 * SAMPLE;
const FROM = NOW - 3600e3;
const UNTIL = NOW + 60e3;
const RANGE = `from=${FROM}&until=${UNTIL}`;
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const TWO_RANGES = `lfrom=${LEFT_FROM - 60e3}&luntil=${LEFT_FROM + 600e3}&rfrom=${RIGHT_FROM - 60e3}&runtil=${RIGHT_FROM + 600e3}`;

let browser;
let userDataDir;
let context;

before(async () => {
  userDataDir = mkdtempSync(join(tmpdir(), 'kiln-ui-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1440, height: 960 },
    acceptDownloads: true,
  });
  browser = context;
});

after(async () => {
  await browser?.close();
  rmSync(userDataDir, { recursive: true, force: true });
});

/** Opens a page that records console errors; `allowed` patterns are expected ones. */
async function open(path, allowed = [], { settle = true } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !allowed.some((re) => re.test(msg.text()))) errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.errors = errors;
  await page.goto(URL_BASE + path);
  if (settle) await settled(page);
  return page;
}

/** The address bar as the page sees it (`page.url()` lags `history.replaceState`). */
const href = (page) => page.evaluate(() => location.href);

async function settled(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true' && document.body.dataset.busy === '0', null, { timeout: 20000 });
}

async function close(page) {
  const errors = page.errors;
  await page.close();
  assert.deepEqual(errors, [], 'no console errors');
}

async function shot(page, name) {
  if (!SCREENSHOTS) return;
  mkdirSync(IMAGES, { recursive: true });
  await page.screenshot({ path: join(IMAGES, `ui-${name}.png`), fullPage: true });
}

const drawn = (page, graph) => page.evaluate((g) => window.kiln.graphs[g].drawn(), graph);
const node = async (page, graph, name) => (await drawn(page, graph)).find((n) => n.name === name);

/** Clicks or hovers the middle of a drawn node through the real mouse. */
async function pointAt(page, graph, name, action = 'click') {
  const n = await node(page, graph, name);
  assert.ok(n, `${name} is drawn in ${graph}`);
  const box = await page.evaluate((g) => {
    const r = window.kiln.graphs[g].canvas.getBoundingClientRect();
    return { x: r.left, y: r.top };
  }, graph);
  const x = box.x + n.x + Math.min(n.width / 2, 40);
  const y = box.y + n.y + n.height / 2;
  if (action === 'click') await page.mouse.click(x, y);
  else await page.mouse.move(x, y);
}

/** Colour on the canvas inside a node's box (away from its label). */
async function colorOf(page, graph, name) {
  const n = await node(page, graph, name);
  assert.ok(n, `${name} is drawn in ${graph}`);
  return page.evaluate(([g, x, y]) => window.kiln.graphs[g].pixel(x, y), [graph, n.x + 2, n.y + 2]);
}

function redGreen(rgb) {
  const [r, g, b] = rgb.match(/\d+/g).map(Number);
  if (r > g + 40 && r > b + 40) return 'red';
  if (g > r + 40 && g > b + 20) return 'green';
  if (Math.abs(r - g) < 10 && Math.abs(g - b) < 10) return 'grey';
  return rgb;
}

test('single view: pickers, timeline, flame graph and table from the API', async () => {
  const page = await open(`/?${RANGE}`);
  assert.equal(await page.inputValue('#service'), 'shop.api');
  const services = await page.$$eval('#service option', (os) => os.map((o) => o.value));
  assert.deepEqual(services, ['shop.api', 'shop.worker']);
  const types = await page.$$eval('#profile-type option', (os) => os.map((o) => o.value));
  assert.deepEqual(types.sort(), ['memory:alloc_space:bytes::', 'memory:inuse_space:bytes::', CPU].sort());
  assert.equal(await page.inputValue('#profile-type'), 'memory:alloc_space:bytes::');
  await page.selectOption('#profile-type', CPU);
  await settled(page);
  assert.match(await href(page), /type=process_cpu/);

  const nodes = await drawn(page, 'single');
  const root = nodes.find((n) => n.name === 'total');
  assert.equal(root.total, LEFT_TOTAL + RIGHT_TOTAL);
  for (const name of ['main', 'handler', 'render', 'parse', 'gc', 'json.Marshal', 'cache.Fill']) {
    assert.ok(nodes.some((n) => n.name === name), `${name} drawn`);
  }
  assert.ok((await node(page, 'single', 'handler')).label, 'wide nodes carry their name');
  assert.equal(redGreen(await colorOf(page, 'single', 'handler')) === 'grey', false, 'single view uses name colours');

  // Timeline: six pushes, six points.
  assert.equal(await page.locator('#timeline circle.tl-point').count(), 6);
  // Top table: sorted by self, render first (300+100)*3 samples.
  const first = await page.locator('.top-table tbody tr').first().getAttribute('data-name');
  assert.equal(first, 'render');
  await page.click('.top-table th[data-sort=total]');
  assert.equal(await page.locator('.top-table tbody tr').first().getAttribute('data-name'), 'main');
  await page.click('.top-table th[data-sort=name]');
  const names = await page.$$eval('.top-table tbody tr', (rows) => rows.map((r) => r.dataset.name));
  assert.deepEqual(names, [...names].sort());
  assert.match(await href(page), /sort=name/);
  await shot(page, 'single');
  await close(page);
});

test('timeline sums counters and averages gauges; presets set the range', async () => {
  const axis = (page) => page.$$eval('#timeline text.tl-axis', (ts) => ts.map((t) => t.textContent));
  const cpu = await open(`/?${RANGE}&type=${CPU}`);
  assert.ok((await axis(cpu)).includes('5.9 s'), 'eu 540 + us 50 samples at one step are summed');
  await cpu.selectOption('#preset', 'now-6h');
  await settled(cpu);
  assert.match(await href(cpu), /from=now-6h/);
  assert.doesNotMatch(await href(cpu), /until=/);
  assert.equal((await node(cpu, 'single', 'total')).total, LEFT_TOTAL + RIGHT_TOTAL);
  await close(cpu);

  const gauge = await open(`/?${RANGE}&type=memory:inuse_space:bytes::`);
  const labels = await axis(gauge);
  assert.ok(labels.includes('200 B'), `in-use snapshots of 100 B and 300 B average to 200 B: ${labels}`);
  assert.equal((await node(gauge, 'single', 'total')).total, 400, 'the flame graph merges both');
  await close(gauge);
});

test('hover shows self/total and share; click zooms; reset', async () => {
  const page = await open(`/?${RANGE}&type=${CPU}`);
  await pointAt(page, 'single', 'gc', 'hover');
  const tip = await page.locator('.fg-tooltip').innerText();
  assert.match(tip, /^gc/);
  assert.match(tip, /total: 3 s \(10\.9%\)/); // 300 samples of 2760
  assert.match(tip, /self: 3 s/);

  await pointAt(page, 'single', 'handler');
  const zoomed = await drawn(page, 'single');
  const handler = zoomed.find((n) => n.name === 'handler');
  const width = await page.evaluate(() => window.kiln.graphs.single.cssWidth);
  assert.ok(Math.abs(handler.width - width) < 1.5, 'handler fills the width');
  assert.ok(!zoomed.some((n) => n.name === 'gc'), 'siblings of the zoomed node leave the view');
  assert.match(decodeURIComponent(await href(page)), /zoom=main;handler/);

  // A shared URL restores the zoom.
  const again = await open((await href(page)).slice(URL_BASE.length));
  assert.equal(await again.evaluate(() => window.kiln.graphs.single.zoomPath()), 'main;handler');
  await close(again);
  await page.bringToFront();

  await page.click('#reset');
  assert.ok((await drawn(page, 'single')).some((n) => n.name === 'gc'));
  assert.doesNotMatch(await href(page), /zoom=/);

  // Keyboard: Escape on the focused canvas resets a zoom too.
  await pointAt(page, 'single', 'render');
  assert.match(decodeURIComponent(await href(page)), /zoom=main;handler;render/);
  await page.keyboard.press('Escape');
  assert.doesNotMatch(await href(page), /zoom=/);
  await close(page);
});

test('search highlights matches on the canvas', async () => {
  const page = await open(`/?${RANGE}&type=${CPU}`);
  await page.fill('#search', 'json');
  const nodes = await drawn(page, 'single');
  const matches = nodes.filter((n) => n.match);
  assert.equal(matches.length, 2, 'json.Marshal under render and under worker');
  assert.ok(matches.every((n) => n.name === 'json.Marshal'));
  assert.equal(await page.locator('#matches').innerText(), '2 matches');
  assert.equal(await colorOf(page, 'single', 'json.Marshal'), 'rgb(255,0,204)');
  assert.equal(await colorOf(page, 'single', 'handler'), 'rgb(228,228,228)', 'non-matches are dimmed');
  assert.match(await href(page), /search=json/);
  await close(page);
});

test('sandwich view of a function shows its callers and callees', async () => {
  const page = await open(`/?${RANGE}&type=${CPU}`);
  await page.click('.top-table tr[data-name="json.Marshal"]');
  await page.waitForSelector('#sandwich:not([hidden])');
  assert.equal(await page.locator('#sandwich-name').innerText(), 'json.Marshal');
  const callers = (await drawn(page, 'callers')).map((n) => n.name).sort();
  assert.deepEqual(callers, ['handler', 'json.Marshal', 'main', 'main', 'render', 'worker']);
  const callees = await drawn(page, 'callees');
  assert.deepEqual(callees.map((n) => n.name), ['json.Marshal']);
  assert.equal(callees[0].total, 180 * SAMPLE); // (20 + 10) × 6 pushes
  assert.match(await href(page), /fn=json\.Marshal/);
  await shot(page, 'sandwich');
  await close(page);
});

test('label selector autocompletes names and values, then filters', async () => {
  const page = await open(`/?${RANGE}&type=${CPU}`);
  await page.click('#selector');
  await page.waitForSelector('#suggestions li');
  const labels = await page.$$eval('#suggestions li', (li) => li.map((l) => l.textContent));
  assert.deepEqual(labels.sort(), ['env', 'pyroscope_spy', 'region']);
  await page.click('#suggestions li:text-is("region")');
  assert.equal(await page.inputValue('#selector'), 'region="');
  await page.waitForSelector('#suggestions li[data-kind=value]');
  const values = await page.$$eval('#suggestions li', (li) => li.map((l) => l.textContent));
  assert.deepEqual(values.sort(), ['eu', 'us']);
  await page.click('#suggestions li:text-is("us")');
  assert.equal(await page.inputValue('#selector'), 'region="us"');
  await page.click('button[type=submit]');
  await settled(page);
  assert.equal((await node(page, 'single', 'total')).total, 300 * SAMPLE);
  assert.match(decodeURIComponent(await href(page)), /query=region="us"/);
  await close(page);
});

test('dragging on the timeline zooms into that time range', async () => {
  const page = await open(`/?${RANGE}&type=${CPU}`);
  const box = await page.locator('#timeline svg').boundingBox();
  const xOf = (ms) => box.x + 56 + ((ms - FROM) / (UNTIL - FROM)) * (box.width - 66);
  await page.mouse.move(xOf(LEFT_FROM - 120e3), box.y + 50);
  await page.mouse.down();
  await page.mouse.move(xOf(LEFT_FROM + 600e3), box.y + 50, { steps: 5 });
  await page.mouse.up();
  await settled(page);
  assert.equal((await node(page, 'single', 'total')).total, LEFT_TOTAL);
  assert.match(await href(page), /from=\d{13}&until=\d{13}/);
  assert.match(await page.inputValue('#from'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 'epochs are shown as dates');
  assert.equal(await page.locator('#timeline circle.tl-point').count(), 3);
  await close(page);
});

test('tag explorer: shares per value, click filters the single view', async () => {
  const page = await open(`/?view=tags&tag=region&${RANGE}&type=${CPU}`);
  const rows = await page.$$eval('.tag-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.value, tr.querySelector('.share').textContent]));
  assert.deepEqual(rows, [['eu', '89.1%'], ['us', '10.9%']]);
  const strokes = await page.$$eval('#timeline path.tl-line', (ps) => ps.map((p) => getComputedStyle(p).stroke));
  assert.equal(strokes.length, 2, 'one line per value');
  assert.notEqual(strokes[0], strokes[1], 'each value has its own colour');
  await shot(page, 'tags');
  await page.click('.tag-table tr[data-value=us]');
  await settled(page);
  assert.match(decodeURIComponent(await href(page)), /query=region="us"/);
  assert.doesNotMatch(await href(page), /view=/);
  assert.equal((await node(page, 'single', 'total')).total, 300 * SAMPLE);
  await close(page);
});

test('comparison view: two ranges on one timeline, two flame graphs', async () => {
  const page = await open(`/?view=comparison&${RANGE}&type=${CPU}&${TWO_RANGES}`);
  assert.equal((await node(page, 'left', 'total')).total, LEFT_TOTAL);
  assert.equal((await node(page, 'right', 'total')).total, RIGHT_TOTAL);
  assert.ok(!(await drawn(page, 'left')).some((n) => n.name === 'cache.Fill'));
  assert.ok((await drawn(page, 'right')).some((n) => n.name === 'cache.Fill'));
  assert.equal(await page.locator('#timeline rect.tl-band').count(), 2);
  await shot(page, 'comparison');

  // A second selector for the comparison side.
  await page.fill('#rquery', 'region="us"');
  await page.press('#rquery', 'Enter');
  await settled(page);
  assert.equal((await node(page, 'right', 'total')).total, 150 * SAMPLE);
  assert.equal((await node(page, 'left', 'total')).total, LEFT_TOTAL);

  // Dragging with "comparison" chosen moves the right range.
  await page.check('input[name=drag][value=right]');
  const box = await page.locator('#timeline svg').boundingBox();
  await page.mouse.move(box.x + box.width - 40, box.y + 50);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width - 20, box.y + 50, { steps: 3 });
  await page.mouse.up();
  await settled(page);
  assert.match(await href(page), /rfrom=\d{13}/);
  assert.equal(await page.locator('#fg-right .status.empty').count(), 1, 'an empty range says so');
  await close(page);
});

test('diff view: red/green by change, relative vs absolute, changed-most table', async () => {
  const page = await open(`/?view=diff&${RANGE}&type=${CPU}&${TWO_RANGES}`);
  const render = await node(page, 'diff', 'render');
  assert.equal(render.left, 120 * 3 * SAMPLE);
  assert.equal(render.right, 380 * 3 * SAMPLE);
  assert.equal(redGreen(await colorOf(page, 'diff', 'render')), 'red');
  assert.equal(redGreen(await colorOf(page, 'diff', 'parse')), 'green', 'parse lost share');
  assert.equal(await page.isChecked('input[name=mode][value=relative]'), true);
  const firstRelative = await page.locator('.diff-table tbody tr').first().getAttribute('data-name');
  assert.equal(firstRelative, 'render');
  assert.ok(await page.locator('.diff-table tr[data-name=parse].shrank').count());
  await shot(page, 'diff');

  await page.check('input[name=mode][value=absolute]');
  assert.match(await href(page), /mode=absolute/);
  assert.equal(redGreen(await colorOf(page, 'diff', 'render')), 'red');
  assert.equal(redGreen(await colorOf(page, 'diff', 'parse')), 'grey', 'parse did not change in value');
  const absRows = await page.$$eval('.diff-table tbody tr', (trs) => trs.map((tr) => tr.dataset.name));
  assert.deepEqual(absRows, ['render', 'cache.Fill']);

  await pointAt(page, 'diff', 'cache.Fill', 'hover');
  assert.match(await page.locator('.fg-tooltip').innerText(), /baseline: 0 ns[\s\S]*comparison: 1\.8 s[\s\S]*change: new/);

  // Reload from the shared URL: same mode, same colours.
  const again = await open((await href(page)).slice(URL_BASE.length));
  assert.equal(await again.isChecked('input[name=mode][value=absolute]'), true);
  assert.equal(redGreen(await colorOf(again, 'diff', 'parse')), 'grey');
  await close(again);
  await close(page);
});

test('export as pprof and as flame-graph JSON', async () => {
  const page = await open(`/?${RANGE}&type=${CPU}`);
  const [pprof] = await Promise.all([page.waitForEvent('download'), page.click('#export-pprof')]);
  assert.match(pprof.suggestedFilename(), /^kiln-shop\.api-process_cpu-cpu-.*\.pb\.gz$/);
  const raw = gunzipSync(readFileSync(await pprof.path()));
  const text = raw.toString('latin1');
  for (const name of ['json.Marshal', 'cache.Fill', 'nanoseconds']) assert.ok(text.includes(name), `pprof names ${name}`);
  assert.equal(raw[0], 0x0a, 'a Profile starts with field 1 (sample_type)');

  const [json] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const doc = JSON.parse(readFileSync(await json.path(), 'utf8'));
  assert.equal(doc.profileTypeID, CPU);
  assert.equal(Number(doc.flamegraph.total), LEFT_TOTAL + RIGHT_TOTAL);
  assert.ok(doc.flamegraph.names.includes('render'));
  await settled(page);
  await close(page);
});

test('errors are shown in words from the API, empty ranges say so', async () => {
  const bad = await open(`/?${RANGE}&type=${CPU}&query=${encodeURIComponent('region=')}`, [/status of 400/]);
  const banner = await bad.locator('#error').innerText();
  assert.match(banner, /(SelectMergeStacktraces|SelectSeries): .*label_selector/);
  assert.match(await bad.locator('#flamegraph .status.error').innerText(), /label_selector/);
  await close(bad);

  const typo = await open(`/?${RANGE}&type=process_cpu:cpu:nanoseconds:cpu:nanosecondz`, [/status of 400/]);
  assert.match(await typo.locator('#error').innerText(), /profile type/i);
  await close(typo);

  const empty = await open(`/?from=${FROM - 86400e3}&until=${FROM - 82800e3}&service=shop.api&type=${CPU}`);
  assert.match(await empty.locator('#flamegraph .status.empty').innerText(), /No .* profiles match/);
  await close(empty);

  const nothing = await open(`/?from=${FROM - 86400e3}&until=${FROM - 82800e3}`);
  assert.match(await nothing.locator('main .empty').innerText(), /No profiles in this time range/);
  await close(nothing);
});

test('with multi-tenancy on, the UI asks for the tenant and sends it', async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 401/.test(msg.text())) errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${process.env.KILN_MT_URL}/?${RANGE}`);
  await settled(page);
  assert.match(await page.locator('#error').innerText(), /LabelValues|ProfileTypes/);
  assert.match(await page.locator('#error').innerText(), /tenant|X-Scope-OrgID/i);
  await page.fill('#tenant', 'acme');
  await page.click('button[type=submit]');
  await settled(page);
  assert.equal(await page.inputValue('#service'), 'acme.app');
  assert.ok((await drawn(page, 'single')).some((n) => n.name === 'tenant.Work'));
  assert.match(await href(page), /tenant=acme/);
  assert.equal(await page.locator('#error').isHidden(), true);
  await page.close();
  assert.deepEqual(errors, []);
});

test('benchmark page: 10,000-node flame graph', async () => {
  const page = await open('/ui/bench.html', [], { settle: false });
  await page.waitForFunction(() => window.benchResult, null, { timeout: 60000 });
  const result = await page.evaluate(() => window.benchResult);
  assert.equal(result.error, undefined);
  assert.equal(result.random.nodes, 10000);
  assert.equal(result.allVisible.nodes, 10000); // 101 stacks × 99 frames + root
  assert.equal(result.allVisible.drawn, 10000, 'every node of the chain graph is drawn');
  console.log(`# flame graph benchmark: ${JSON.stringify(result)}`);
  writeFileSync(join(tmpdir(), 'kiln-ui-bench.json'), JSON.stringify(result, null, 2));
  await close(page);
});
