// tests/browser/report.test.mjs - opens a report.html in Debian's Chromium (headless, through
// playwright-core) and uses it as a person would: hover, click, select. Run by ctest:
//
//   node report.test.mjs synthetic <io_out/html dir> <screenshot dir>
//       the page io_html_test writes (known values), and its hostile-strings twin
//   node report.test.mjs report <report dir> <screenshot dir>
//       a page `attnscope report` wrote; expected values come from the report's CSV grids
//   node report.test.mjs aggregate <aggregate dir> <screenshot dir>
//       a page `attnscope aggregate` wrote; expected values (mean, std, prompts per group) from its CSVs
//   node report.test.mjs svg <dir> <screenshot dir>
//       every .svg under dir: no text reaches outside the drawing, as Chromium lays it out
//
// Every check fails the run with a message; screenshots of each state stay in the screenshot dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [mode, dir, shots] = process.argv.slice(2);
if (!mode || !dir || !shots) {
  console.error('usage: node report.test.mjs synthetic|report|aggregate|svg DIR SCREENSHOT_DIR');
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

const CHROMIUM = process.env.ATTNSCOPE_CHROMIUM || '/usr/bin/chromium';
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--allow-file-access-from-files'],
  });
});
after(async () => { if (browser) await browser.close(); });

/// Opens a page; collects console errors, uncaught exceptions, dialogs and any network request.
async function open(file) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => { problems.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push(`network request: ${r.url()}`); });
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  return { page, problems, context };
}

/// Hovers the center of an element and returns the tooltip's text.
async function hoverText(page, selector) {
  await page.hover(selector);
  await page.waitForSelector('#tooltip', { state: 'visible' });
  return page.textContent('#tooltip');
}

/// Hovers cell (row, col) of the pattern canvas and returns the tooltip's text.
async function hoverPattern(page, row, col) {
  const geo = await page.$eval('#pattern', (c) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cs: +c.dataset.cell }));
  const box = await page.locator('#pattern').boundingBox();
  await page.mouse.move(box.x + geo.x0 + (col + 0.5) * geo.cs, box.y + geo.y0 + (row + 0.5) * geo.cs);
  await page.waitForSelector('#tooltip', { state: 'visible' });
  return page.textContent('#tooltip');
}

/// A labeled layer x head CSV: { rows: ['L0', ...], cols: ['H0', ...], values: [[...]] } (empty = NaN).
function readCsvGrid(file) {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  const cols = lines[0].split(',').slice(1);
  const rows = [], values = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    rows.push(f[0]);
    values.push(f.slice(1).map((x) => (x === '' ? NaN : Number(x))));
  }
  return { rows, cols, values };
}

const fmt = (v) => {
  if (!Number.isFinite(v)) return 'NaN';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
};

if (mode === 'synthetic') {
  test('the synthetic page: values on hover, a click opens the head, selectors and roles follow', async () => {
    const { page, problems, context } = await open(path.join(dir, 'html', 'report.html'));
    await page.screenshot({ path: path.join(shots, 'synthetic_full.png'), fullPage: true });

    // Opens on the start selection (example 0, L2H1) with its pattern.
    assert.equal(await page.textContent('#selection'), 'L2H1 · example 0');
    assert.equal(await page.getAttribute('#pattern', 'data-head'), 'L2H1');

    // Grid values on hover: entropy[L1, H2] = 1 + 0.1 + 0.02.
    const t = await hoverText(page, '.grid-card[data-grid="entropy"] rect.cell[data-layer="1"][data-head="2"]');
    assert.match(t, /^L1H2\nentropy = 1\.12 nats$/);
    await page.screenshot({ path: path.join(shots, 'synthetic_grid_hover.png') });

    // The per-example grid follows the example selector: sparsity[e, 1, 2] = (e * 12 + 6) / 100.
    assert.match(await hoverText(page, '.grid-card[data-grid="sparsity"] rect.cell[data-layer="1"][data-head="2"]'), /sparsity = 0\.06 fraction$/);
    await page.selectOption('#sel-example', '1');
    assert.match(await hoverText(page, '.grid-card[data-grid="sparsity"] rect.cell[data-layer="1"][data-head="2"]'), /example 1\nsparsity = 0\.18 fraction$/);
    // Its NaN cell (example 0, L1H1) says so.
    await page.selectOption('#sel-example', '0');
    assert.match(await hoverText(page, '.grid-card[data-grid="sparsity"] rect.cell[data-layer="1"][data-head="1"]'), /sparsity = NaN$/);

    // A click on a cell opens that head: L0H3 of example 0 has offset 1 (the previous token).
    await page.click('.grid-card[data-grid="entropy"] rect.cell[data-layer="0"][data-head="3"]');
    assert.equal(await page.getAttribute('#pattern', 'data-head'), 'L0H3');
    assert.equal(await page.inputValue('#sel-layer'), '0');
    assert.equal(await page.inputValue('#sel-head'), '3');
    assert.equal(await page.textContent('#pattern-title'), 'Pattern of L0H3 · example 0');
    assert.equal(await page.getAttribute('.grid-card[data-grid="entropy"] rect.cell.selected', 'data-head'), '3');
    assert.match(await hoverPattern(page, 2, 1), /^query 2 " cat"\nkey 1 " The"\nweight = 0\.75$/);
    assert.match(await hoverPattern(page, 2, 0), /^query 2 " cat"\nkey 0 "<s>"\nweight = 0\.125$/);
    assert.match(await hoverPattern(page, 1, 4), /weight = NaN \(no key that counts\)$/); // above the diagonal: not a valid key
    await page.screenshot({ path: path.join(shots, 'synthetic_pattern_hover.png') });
    assert.match(await page.textContent('#pattern-info'), /shown: 6 x 6 .*exact values: patterns\/L0H3\.npy/);

    // The color scale selector redraws the pattern.
    const before = await page.$eval('#pattern', (c) => c.toDataURL());
    await page.selectOption('#sel-scale', 'log');
    assert.notEqual(await page.$eval('#pattern', (c) => c.toDataURL()), before);

    // The entropy line of the chosen head: query q has entropy log(1 + q).
    await page.mouse.move(0, 0);
    const svg = await page.locator('#entropy-svg').boundingBox();
    const left = 58, pw = 620 - 58 - 10;
    await page.mouse.move(svg.x + left + (3 / 5) * pw, svg.y + 100);
    await page.waitForSelector('#tooltip', { state: 'visible' });
    assert.match(await page.textContent('#tooltip'), /^query 3 " sat"\nentropy = 1\.386 nats$/);
    assert.equal(await page.locator('#entropy-svg circle.point').count(), 6);

    // Roles: L2H1 is the strongest previous-token head, L0H3 the strongest self head.
    const first = await page.$$eval('#roles-table tbody tr:nth-child(-n+2) td', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(first.slice(0, 4), ['1', 'L2H1', 'previous_token', '0.93']);
    assert.deepEqual(first.slice(6, 10), ['2', 'L0H3', 'self', '0.88']);
    await page.click('#roles-table tbody tr:nth-child(1)');
    assert.equal(await page.getAttribute('#pattern', 'data-head'), 'L2H1');

    // The layer and head selectors.
    await page.selectOption('#sel-layer', '1');
    await page.selectOption('#sel-head', '0');
    assert.equal(await page.getAttribute('#pattern', 'data-head'), 'L1H0');

    // Files are links next to the page; a hostile name cannot become a script URL.
    const hrefs = await page.$$eval('#files a', (as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(hrefs, ['head_entropy.csv', 'head_entropy.npy', 'summary.json', 'report.html']);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('hostile tokens, title and file names stay text', async () => {
    const { page, problems, context } = await open(path.join(dir, 'html_hostile', 'report.html'));
    assert.equal(await page.title(), '</title><script>alert(2)</script>');
    assert.equal(await page.textContent('#title'), '</title><script>alert(2)</script>');
    assert.equal(await page.locator('img').count(), 0);
    assert.match(await page.textContent('#facts'), /<img src=x onerror=alert\(4\)>/);
    const hrefs = await page.$$eval('#files a', (as) => as.map((a) => a.getAttribute('href')));
    assert.ok(hrefs.every((h) => !/^javascript:/i.test(h)), hrefs.join(' '));
    await page.click('.grid-card[data-grid="entropy"] rect.cell[data-layer="0"][data-head="1"]');
    assert.match(await hoverPattern(page, 0, 0), /^query 0 "<\/script><script>alert\(1\)<\/script>"/);
    await page.screenshot({ path: path.join(shots, 'synthetic_hostile.png') });
    assert.deepEqual(problems, []);
    await context.close();
  });
} else if (mode === 'report') {
  /// A grid CSV of the report: { rows: ['L0', ...], cols: ['H0', ...], values: [[...]] }.
  function readGrid(name) {
    const lines = fs.readFileSync(path.join(dir, `head_${name}.csv`), 'utf8').trim().split('\n');
    const cols = lines[0].split(',').slice(1);
    const rows = [], values = [];
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      rows.push(f[0]);
      values.push(f.slice(1).map(Number));
    }
    return { rows, cols, values };
  }

  test('a report of the command: every grid, its values on hover, a click opens the head', async () => {
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    const { page, problems, context } = await open(path.join(dir, 'report.html'));
    await page.screenshot({ path: path.join(shots, `${path.basename(dir)}_full.png`), fullPage: true });
    const names = await page.$$eval('.grid-card', (cs) => cs.map((c) => c.dataset.grid));
    for (const m of Object.keys(summary.metrics)) assert.ok(names.includes(m), `grid ${m} is missing from the page`);

    // Every grid's value at the last layer and head, as its CSV has it.
    for (const m of Object.keys(summary.metrics)) {
      const g = readGrid(m);
      const l = g.rows.length - 1, h = g.cols.length - 1;
      const want = g.values[l][h];
      const t = await hoverText(page, `.grid-card[data-grid="${m}"] rect.cell[data-layer="${l}"][data-head="${h}"]`);
      assert.ok(t.startsWith(`${g.rows[l]}${g.cols[h]}`), t);
      assert.ok(t.includes(`${m} = ${Number.isFinite(want) ? fmt(want) : 'NaN'}`), `${m}: tooltip "${t}", CSV ${want}`);
    }
    await page.hover('.grid-card[data-grid="entropy"] rect.cell[data-layer="1"][data-head="2"]');
    await page.screenshot({ path: path.join(shots, `${path.basename(dir)}_grid_hover.png`) });

    // A click on a head opens its pattern; hovering its first cell shows query 0, key 0.
    const g = readGrid('entropy');
    const l = g.rows.length - 1, h = g.cols.length - 1;
    await page.click(`.grid-card[data-grid="entropy"] rect.cell[data-layer="${l}"][data-head="${h}"]`);
    assert.equal(await page.getAttribute('#pattern', 'data-head'), `${g.rows[l]}${g.cols[h]}`);
    const rows = +(await page.getAttribute('#pattern', 'data-rows'));
    assert.ok(rows > 0, 'the pattern has no rows');
    assert.match(await hoverPattern(page, rows - 1, 0), /^quer(y|ies) .*\nkeys? 0.*\nweight = /);
    await page.screenshot({ path: path.join(shots, `${path.basename(dir)}_pattern.png`) });
    assert.ok(await page.locator('#entropy-svg circle.point').count() > 0);

    // The gallery's example figures: per example, its first head opens with that example's rows, its
    // own token labels and a link to its exact matrix (named by the example).
    const gallery = summary.gallery && summary.gallery.examples ? summary.gallery.examples : [];
    for (const g of gallery) {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, g.manifest), 'utf8'));
      const first = manifest.panels[0];
      const [, l, h] = /^L(\d+)H(\d+)$/.exec(first.title);
      if ((await page.locator('#sel-example option').count()) > 1) await page.selectOption('#sel-example', String(g.example));
      await page.click(`.grid-card[data-grid="entropy"] rect.cell[data-layer="${l}"][data-head="${h}"]`);
      assert.equal(await page.getAttribute('#pattern', 'data-head'), first.title);
      assert.equal(+(await page.getAttribute('#pattern', 'data-rows')), first.shape[0], `example ${g.example}: rows`);
      const matrix = path.posix.join(path.posix.dirname(g.manifest), first.files.npy);
      assert.ok((await page.textContent('#pattern-info')).includes(`exact values: ${matrix}`), `example ${g.example}: no link to ${matrix}`);
      const key = first.x.ticks[1];
      const t = await hoverPattern(page, first.shape[0] - 1, 1);
      assert.ok(t.includes(`key 1 ${JSON.stringify(key)}`), `example ${g.example}: tooltip "${t}", key 1 is ${JSON.stringify(key)}`);
      await page.screenshot({ path: path.join(shots, `${path.basename(dir)}_gallery_example${g.example}.png`) });
    }

    // Every file the summary lists is linked, and exists.
    const hrefs = await page.$$eval('#files a', (as) => as.map((a) => decodeURIComponent(a.getAttribute('href'))));
    for (const f of summary.files) {
      assert.ok(hrefs.includes(f), `${f} is not linked`);
      assert.ok(fs.existsSync(path.join(dir, f)), `${f} is linked but does not exist`);
    }
    assert.deepEqual(problems, []);
    await context.close();
  });
} else if (mode === 'aggregate') {
  test('an aggregate page: per group every grid, mean, std and prompt count on hover, every file linked', async () => {
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    const groups = Object.keys(summary.groups);
    assert.ok(groups.length > 1, 'the test wants an aggregate of several groups');
    const { page, problems, context } = await open(path.join(dir, 'report.html'));
    await page.screenshot({ path: path.join(shots, 'aggregate_full.png'), fullPage: true });
    assert.equal(await page.textContent('#sel-example-name'), 'group');
    assert.deepEqual(await page.$$eval('#sel-example option', (os) => os.map((o) => o.textContent)), groups);
    assert.ok(!(await page.isVisible('#viewer')), 'an aggregate has no head viewer');
    const cols = await page.$$eval('.grid-card', (cs) => cs.map((c) => c.dataset.grid));
    let widest = { layers: 0, heads: 0 };
    for (const [gi, name] of groups.entries()) {
      await page.selectOption('#sel-example', String(gi));
      for (const m of Object.keys(summary.groups[name].metrics)) {
        assert.ok(cols.includes(m), `grid ${m} is missing from the page`);
        const mean = readCsvGrid(path.join(dir, name, `head_${m}_mean.csv`));
        const sd = readCsvGrid(path.join(dir, name, `head_${m}_std.csv`));
        const n = readCsvGrid(path.join(dir, name, `head_${m}_count.csv`));
        const l = mean.rows.length - 1, h = mean.cols.length - 1;
        widest = { layers: Math.max(widest.layers, l + 1), heads: Math.max(widest.heads, h + 1) };
        const t = await hoverText(page, `.grid-card[data-grid="${m}"] rect.cell[data-layer="${l}"][data-head="${h}"]`);
        assert.ok(t.startsWith(`${mean.rows[l]}${mean.cols[h]} · ${name}\n`), t);
        assert.ok(t.includes(`\n${m} = ${fmt(mean.values[l][h])}`), `${name} ${m}: tooltip "${t}", mean ${mean.values[l][h]}`);
        assert.ok(t.includes(`\nstd over prompts = ${fmt(sd.values[l][h])}`), `${name} ${m}: tooltip "${t}", std ${sd.values[l][h]}`);
        assert.ok(t.includes(`\nprompts = ${n.values[l][h]}`), `${name} ${m}: tooltip "${t}", count ${n.values[l][h]}`);
      }
      await page.hover('.grid-card[data-grid="entropy"] rect.cell[data-layer="0"][data-head="0"]');
      await page.screenshot({ path: path.join(shots, `aggregate_group${gi}_hover.png`) });
    }
    // A group with fewer layers or heads than the widest: its missing cells say NaN, never another group's value.
    for (const [gi, name] of groups.entries()) {
      const mean = readCsvGrid(path.join(dir, name, 'head_entropy_mean.csv'));
      if (mean.rows.length === widest.layers && mean.cols.length === widest.heads) continue;
      await page.selectOption('#sel-example', String(gi));
      const t = await hoverText(page, `.grid-card[data-grid="entropy"] rect.cell[data-layer="${widest.layers - 1}"][data-head="${widest.heads - 1}"]`);
      assert.ok(t.includes('\nentropy = NaN\n'), `${name}: a cell outside the group shows "${t}"`);
    }
    // Every file the summary lists is linked, and exists.
    const hrefs = await page.$$eval('#files a', (as) => as.map((a) => decodeURIComponent(a.getAttribute('href'))));
    for (const f of summary.files) {
      assert.ok(hrefs.includes(f), `${f} is not linked`);
      assert.ok(fs.existsSync(path.join(dir, f)), `${f} is linked but does not exist`);
    }
    assert.deepEqual(problems, []);
    await context.close();
  });
} else if (mode === 'svg') {
  const svgs = [];
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.svg')) svgs.push(p);
    }
  })(dir);

  test(`no clipped text in the ${svgs.length} SVG files under ${dir}`, async () => {
    assert.ok(svgs.length > 0, 'no SVG file found');
    const context = await browser.newContext({ viewport: { width: 1600, height: 1200 } });
    const page = await context.newPage();
    const clipped = [];
    for (const file of svgs) {
      await page.goto(pathToFileURL(file).href);
      const out = await page.evaluate(() => {
        const svg = document.documentElement;
        const box = svg.getBoundingClientRect();
        const bad = [];
        for (const t of svg.querySelectorAll('text')) {
          if (!t.textContent.trim()) continue;
          const r = t.getBoundingClientRect();
          const over = Math.max(box.left - r.left, box.top - r.top, r.right - box.right, r.bottom - box.bottom);
          if (over > 1.5) bad.push(`"${t.textContent}" by ${over.toFixed(1)} px`);
        }
        return bad;
      });
      for (const b of out) clipped.push(`${path.relative(dir, file)}: ${b}`);
    }
    await context.close();
    assert.deepEqual(clipped, []);
  });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
