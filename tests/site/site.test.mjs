// The reading site in a real browser: Debian's chromium, driven by
// playwright-core, over the pages tools/site wrote (node --test).
//   SITE=build/site SHOTS=build/site-shots node --test tests/site/
// Every page loads with no console error and no failed request; every
// internal link and #anchor resolves; every code excerpt equals the lines of
// the file it names; each step of a code walk shows the definitions its prose
// names as name(), from the program it names; no page is wider than a
// phone; each lesson page is photographed at 390 and 1280 pixels
// wide, and its prose and code columns sit side by side on the wide screen
// and one above the other on the narrow one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '../..');
const site = path.resolve(process.env.SITE || path.join(top, 'build/site'));
const shots = path.resolve(process.env.SHOTS || path.join(top, 'build/site-shots'));
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// Every .html file of the site, relative to it.
function pages(dir = site) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? pages(p) : e.name.endsWith('.html') ? [path.relative(site, p)] : [];
  });
}
const lessonPages = pages().filter((p) => /^\d\d-[a-z0-9-]+\.html$/.test(p) && !p.endsWith('-exercises.html'));

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath,
    // No network here: keep chromium from trying to reach any service.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });

// open PAGE: load it, collecting console errors, page errors and failed
// requests; returns { page, problems }.
async function open(rel, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`failed request: ${r.url()}`));
  await page.goto(pathToFileURL(path.join(site, rel)).href, { waitUntil: 'load' });
  return { page, problems };
}

test('the site has an index, a page per lesson and an exercises page per lesson', () => {
  const lessons = fs.readdirSync(top).filter((d) => /^\d\d-[a-z0-9-]+$/.test(d)
    && fs.existsSync(path.join(top, d, 'README.md')));
  assert.ok(fs.existsSync(path.join(site, 'index.html')), 'no index.html');
  for (const l of lessons) {
    assert.ok(fs.existsSync(path.join(site, `${l}.html`)), `no page for ${l}`);
    assert.ok(fs.existsSync(path.join(site, `${l}-exercises.html`)), `no exercises page for ${l}`);
  }
});

test('no page needs JavaScript', () => {
  for (const rel of pages()) {
    const text = fs.readFileSync(path.join(site, rel), 'utf8');
    assert.doesNotMatch(text, /<script/i, `${rel} has a script`);
  }
});

// One visit of every page: what went wrong while loading it, where its
// links go, and the ids its anchors can use.
let visits;
async function visitAll() {
  if (visits) return visits;
  visits = new Map();
  const { page, problems } = await open('index.html');
  for (const rel of pages()) {
    problems.length = 0;
    await page.goto(pathToFileURL(path.join(site, rel)).href, { waitUntil: 'load' });
    visits.set(path.join(site, rel), {
      rel,
      problems: [...problems],
      hrefs: await page.$$eval('a[href]', (as) => as.map((a) => a.href)),
      ids: new Set(await page.$$eval('[id]', (els) => els.map((e) => e.id))),
    });
  }
  await page.close();
  return visits;
}

test('every page loads with no console error and no failed request', async () => {
  const bad = [];
  for (const v of (await visitAll()).values()) for (const p of v.problems) bad.push(`${v.rel}: ${p}`);
  assert.deepEqual(bad, []);
});

test('every internal link and anchor resolves', async () => {
  const bad = [];
  const all = await visitAll();
  for (const v of all.values()) {
    for (const href of v.hrefs) {
      if (!href.startsWith('file:')) continue;
      const url = new URL(href);
      const file = fileURLToPath(url);
      if (!fs.existsSync(file)) { bad.push(`${v.rel}: ${href}: no such file`); continue; }
      if (!file.startsWith(site)) { bad.push(`${v.rel}: ${href}: outside the site`); continue; }
      if (url.hash && file.endsWith('.html')) {
        const id = decodeURIComponent(url.hash.slice(1));
        if (!all.get(file)?.ids.has(id)) bad.push(`${v.rel}: ${href}: no element with id "${id}"`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

test('every code excerpt equals the lines of the file it names', async () => {
  let n = 0;
  for (const rel of lessonPages) {
    const { page } = await open(rel);
    const excerpts = await page.$$eval('.excerpt', (els) => els.map((el) => ({
      file: el.dataset.file,
      start: Number(el.dataset.start),
      end: Number(el.dataset.end),
      // Each line is a span whose first child is its line-number link.
      lines: [...el.querySelectorAll('pre code > span')].map((s) => {
        const c = s.cloneNode(true);
        c.querySelector('a')?.remove();
        return c.textContent;
      }),
    })));
    await page.close();
    for (const e of excerpts) {
      const want = fs.readFileSync(path.join(top, e.file), 'utf8').split('\n').slice(e.start - 1, e.end);
      assert.deepEqual(e.lines, want, `${rel}: the excerpt of ${e.file}:${e.start}-${e.end}`);
      n++;
    }
  }
  assert.ok(n > 0, 'no excerpts at all');
});

test('each lesson page shows prose and code side by side when wide, stacked when narrow', async () => {
  fs.mkdirSync(shots, { recursive: true });
  for (const rel of lessonPages) {
    for (const width of [390, 1280]) {
      const { page } = await open(rel, { width, height: 1000 });
      const name = `${path.basename(rel, '.html')}-${width}.png`;
      // The first row with code, at the top of the screen, then the page.
      const row = page.locator('.row:has(.excerpt)').first();
      assert.ok(await row.count(), `${rel}: no row with code`);
      await row.scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(shots, name) });
      const prose = await row.locator('.prose').boundingBox();
      const code = await row.locator('.code').boundingBox();
      await page.close();
      if (width === 1280) {
        assert.ok(code.x >= prose.x + prose.width - 1, `${rel} at ${width}: code is not beside the prose`);
      } else {
        assert.ok(code.y >= prose.y + prose.height - 1, `${rel} at ${width}: code is not below the prose`);
        assert.ok(code.x + code.width <= width + 1, `${rel} at ${width}: code overflows the screen`);
      }
    }
  }
});

// The code walk: what each lesson page shows beside its prose, as a list of
// rows { prose: text, names: [`name()`...], excerpts: [{ name, file }] }.
async function codeWalk(rel) {
  const { page } = await open(rel);
  const rows = await page.$$eval('.row', (els) => els.map((row) => {
    const prose = row.querySelector('.prose');
    // Text with a space between table cells and list items.
    const text = [...(prose?.querySelectorAll('p, td, th, li') ?? [])].map((e) => e.textContent).join(' ');
    return {
      prose: text.replace(/\s+/g, ' '),
      spans: [...(prose?.querySelectorAll('code') ?? [])].map((c) => c.textContent.trim()),
      excerpts: [...row.querySelectorAll('.excerpt')].map((e) => ({
        name: e.querySelector('.excerpt-head code').textContent, file: e.dataset.file })),
    };
  }));
  await page.close();
  return rows;
}

// definedIn(FILE, NAME): FILE (relative to the repository) defines NAME, a
// function (a column-0 header naming it, not a prototype) or "struct NAME".
function definedIn(file, name) {
  const text = fs.readFileSync(path.join(top, file), 'utf8');
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (name.startsWith('struct ')) {
    return new RegExp(`^(?:static\\s+|typedef\\s+)?${esc(name)}\\s*\\{`, 'm').test(text);
  }
  return new RegExp(`^[A-Za-z_][^;=\\n(]*\\b${esc(name)}\\([^;]*$`, 'm').test(text);
}

test('no page is wider than a phone\'s screen (390 px): long words break, tables and code scroll', async () => {
  const bad = [];
  for (const rel of pages()) {
    const { page } = await open(rel, { width: 390, height: 900 });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 390) {
      // Name the widest thing that sticks out, for the failure message.
      const what = await page.evaluate(() => {
        let worst = null;
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect().right;
          let scrolls = false;    // inside a table or pre that scrolls: fine
          for (let a = el.parentElement; a && !scrolls; a = a.parentElement) scrolls = getComputedStyle(a).overflowX !== 'visible';
          if (!scrolls && r > 391 && (!worst || r >= worst.r)) worst = { r, t: `${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 60)}"` };
        }
        return worst?.t;
      });
      bad.push(`${rel}: ${wide} px wide: ${what}`);
    }
    await page.close();
  }
  assert.deepEqual(bad, []);
});

test('each step of a code walk shows the definition it names, from the program it names', async () => {
  const bad = [];
  for (const rel of lessonPages) {
    const lesson = path.basename(rel, '.html');
    const sources = fs.readdirSync(path.join(top, lesson)).filter((f) => /\.[ch]$/.test(f))
      .map((f) => `${lesson}/${f}`);
    const programs = sources.filter((f) => f.endsWith('.c')).map((f) => path.basename(f, '.c'));
    const rows = await codeWalk(rel);
    const shown = new Set(rows.flatMap((r) => r.excerpts.map((e) => e.name)));
    for (const row of rows) {
      for (const e of row.excerpts) {
        // A common word in backquotes is not a function: the prose must
        // write name(), struct name, or an identifier with an underscore.
        const named = row.spans.some((s) => s === `${e.name}()`
          || (s === e.name && (e.name.startsWith('struct ') || e.name.includes('_'))));
        if (!named) bad.push(`${rel}: ${e.name} (${e.file}) is shown beside prose that does not name it as code`);
        // A paragraph about one program gets that program's definition.
        const here = programs.filter((p) => new RegExp(`(?<![\\w-])${p}(?:\\.c)?(?![\\w-])`).test(row.prose));
        const owner = path.basename(e.file).replace(/\.[ch]$/, '');
        if (e.file.endsWith('.c') && here.length && !here.includes(owner)
            && here.some((p) => definedIn(`${lesson}/${p}.c`, e.name))) {
          bad.push(`${rel}: ${e.name} shown from ${e.file}, but the paragraph is about ${here.join(', ')}`);
        }
      }
      // Every name() the prose writes that the lesson defines is shown.
      for (const s of row.spans) {
        const name = s.endsWith('()') ? s.slice(0, -2) : null;
        if (!name || shown.has(name)) continue;
        const where = sources.find((f) => definedIn(f, name));
        if (where) bad.push(`${rel}: ${s} is defined in ${where} but never shown`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
