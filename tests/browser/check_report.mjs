// tests/browser/check_report.mjs
// Opens a `faultline report` page in Debian's headless Chromium, as a person would, and
// checks what they would see: no console errors or exceptions, every chart drawn as a
// non-empty SVG with marks in it, and every failure's timeline link leading to a page whose
// chart draws too. Saves screenshots into the output directory: report.png (the top of the
// summary), report-full.png and timeline.png (the first failure's timeline page).
//
//   node check_report.mjs REPORT.html OUT_DIR [CHROMIUM]
//
// It speaks the Chrome DevTools Protocol over a pipe (--remote-debugging-pipe: NUL-separated
// JSON on file descriptors 3 and 4), so it needs Node.js and Chromium and no npm package.
// Exit 0 when every check holds; 1 with one line per problem otherwise.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [reportPath, outDir, chromiumPath = 'chromium'] = process.argv.slice(2);
if (!reportPath || !outDir) {
  console.error('usage: node check_report.mjs REPORT.html OUT_DIR [CHROMIUM]');
  process.exit(2);
}
const WAIT_MS = 120_000;  // a busy 2-core machine: a wide margin, never a speed judgement

class Browser {
  constructor(path) {
    this.profile = mkdtempSync(join(tmpdir(), 'faultline-chromium-'));
    this.proc = spawn(path, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--no-first-run', '--no-default-browser-check', '--allow-file-access-from-files', '--hide-scrollbars',
      `--user-data-dir=${this.profile}`, '--remote-debugging-pipe', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    this.next = 1;
    this.pending = new Map();
    this.listeners = [];
    let buffer = Buffer.alloc(0);
    this.proc.stdio[4].on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let end = buffer.indexOf(0); end >= 0; end = buffer.indexOf(0)) {
        const message = JSON.parse(buffer.subarray(0, end).toString('utf8'));
        buffer = buffer.subarray(end + 1);
        if (message.id && this.pending.has(message.id)) {
          const { ok, fail } = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) fail(new Error(`${message.error.message} (${message.error.code})`));
          else ok(message.result);
        } else if (message.method) {
          for (const l of this.listeners) l(message);
        }
      }
    });
    this.exited = new Promise((ok) => this.proc.on('exit', ok));
  }
  send(method, params = {}, sessionId = undefined) {
    const id = this.next++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    this.proc.stdio[3].write(JSON.stringify(message) + '\0');
    return new Promise((ok, fail) => this.pending.set(id, { ok, fail }));
  }
  async close() {
    try { await Promise.race([this.send('Browser.close'), sleep(5000)]); } catch { /* already gone */ }
    this.proc.kill('SIGKILL');
    await this.exited;
    rmSync(this.profile, { recursive: true, force: true });
  }
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function main() {
  const problems = [];
  const browser = new Browser(chromiumPath);
  const fail = setTimeout(() => {
    console.error(`check_report: no answer from ${chromiumPath} in ${WAIT_MS / 1000} s; its stderr ends:\n${browser.stderr}`);
    process.exit(1);
  }, WAIT_MS * 3);
  try {
    const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
    const page = (method, params) => browser.send(method, params, sessionId);
    const consoleErrors = [];
    browser.listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      // Warnings too: Vega-Lite reports a spec or data it cannot draw (an infinite extent, a
      // dropped field) as a warning and draws nothing.
      if (m.method === 'Runtime.consoleAPICalled' && ['error', 'assert', 'warning'].includes(m.params.type)) {
        consoleErrors.push('console.' + m.params.type + ': ' + m.params.args.map((a) => a.value ?? a.description).join(' '));
      } else if (m.method === 'Runtime.exceptionThrown') {
        const d = m.params.exceptionDetails;
        consoleErrors.push('exception: ' + (d.exception?.description ?? d.text));
      } else if (m.method === 'Log.entryAdded' && ['error', 'warning'].includes(m.params.entry.level)) {
        consoleErrors.push('log: ' + m.params.entry.text + (m.params.entry.url ? ' ' + m.params.entry.url : ''));
      }
    });
    await page('Runtime.enable');
    await page('Log.enable');
    await page('Page.enable');
    await page('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });

    const evaluate = async (expression) => {
      const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
      if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
      return r.result.value;
    };
    // Done drawing what a navigation showed: the page counts its views (show() runs once per
    // navigation, on a hashchange that fires after the click returns), so wait for a newer one.
    let seen = 0;
    const settle = async (what) => {
      const until = Date.now() + WAIT_MS;
      while (Date.now() < until) {
        const view = await evaluate('window.__faultline && window.__faultline.done ? window.__faultline.view : 0');
        if (view > seen) {
          seen = view;
          return true;
        }
        await sleep(100);
      }
      problems.push(`${what}: not drawn within ${WAIT_MS / 1000} s`);
      return false;
    };
    // Every visible chart: an SVG with a size and at least one drawn mark.
    const checkCharts = async (what, selector) => {
      const charts = await evaluate(`[...document.querySelectorAll(${JSON.stringify(selector)})]
        .filter((el) => el.offsetParent !== null)
        .map((el) => {
          const svg = el.querySelector('svg');
          const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
          // A mark counts when it paints: a fill or a stroke that is not none (a line whose
          // colour scale lost its domain has neither, and shows nothing).
          const paints = (e) => ['fill', 'stroke'].some((a) => { const v = e.getAttribute(a); return v && v !== 'none' && v !== 'transparent'; });
          // Data marks only (role-mark), not axes, grids or legends, which draw on an empty chart too.
          const groups = svg ? [...svg.querySelectorAll('g.role-mark')].filter((g) => !g.classList.contains('mark-group')) : [];
          let marks = 0;
          const blank = [];
          for (const g of groups) {
            const drawn = [...g.children].filter((e) => ['path', 'line', 'rect'].includes(e.tagName));
            if (drawn.length === 0) continue;
            const painted = drawn.filter(paints).length;
            marks += painted;
            if (painted === 0) blank.push(g.getAttribute('class'));
          }
          return { name: el.dataset.chart || el.dataset.timeline, width: box.width, height: box.height, marks, blank };
        })`);
      if (charts.length === 0) problems.push(`${what}: no chart on the page`);
      for (const c of charts) {
        if (c.width < 50 || c.height < 30 || c.marks === 0) {
          problems.push(`${what}: chart ${c.name} not rendered (svg ${c.width}x${c.height}, ${c.marks} marks)`);
        }
        for (const g of c.blank) problems.push(`${what}: chart ${c.name} has marks that paint nothing (${g})`);
      }
      return charts.length;
    };
    // The page from the top, at most `most` pixels of it.
    const screenshot = async (file, most = 8000) => {
      const { cssContentSize } = await page('Page.getLayoutMetrics');
      const height = Math.min(Math.ceil(cssContentSize.height), most);
      await page('Emulation.setDeviceMetricsOverride', { width: 1280, height, deviceScaleFactor: 1, mobile: false });
      await sleep(200);
      const { data } = await page('Page.captureScreenshot', { format: 'png' });
      writeFileSync(join(outDir, file), Buffer.from(data, 'base64'));
      await page('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
    };

    const url = pathToFileURL(resolve(reportPath)).href;
    await page('Page.navigate', { url });
    if (await settle('the report')) {
      const n = await checkCharts('the report', '#summary-page .chart');
      await screenshot('report.png', 1500);  // what a person sees first
      await screenshot('report-full.png');
      const links = await evaluate(`[...document.querySelectorAll('a.timeline-link')].map((a) => a.getAttribute('href'))`);
      const failures = await evaluate(`document.querySelectorAll('table.failures tr').length - 1`);
      console.log(`check_report: summary drew ${n} chart(s); ${Math.max(failures, 0)} failure row(s), ${links.length} timeline link(s)`);
      if (failures > 0 && links.length === 0) problems.push('failures listed but no timeline link');
      for (const [i, href] of links.entries()) {
        // As a click does: the hash changes, the page shows that timeline.
        await evaluate(`document.querySelector('a.timeline-link[href="${href}"]').click()`);
        if (!(await settle(`timeline ${href}`))) continue;
        const shown = await evaluate(`(() => { const a = document.querySelector(${JSON.stringify(href)});
          return a && !a.hidden && document.getElementById('summary-page').hidden; })()`);
        if (!shown) problems.push(`timeline ${href}: the link did not show its page`);
        await checkCharts(`timeline ${href}`, `${href} .chart`);
        if (i === 0) await screenshot('timeline.png');
        await evaluate(`location.hash = '#failures'`);
        await settle('back to the report');
      }
    }
    const pageErrors = await evaluate('(window.__faultline && window.__faultline.errors) || []');
    for (const e of pageErrors) problems.push(`page error: ${e}`);
    for (const e of consoleErrors) problems.push(e);
  } finally {
    clearTimeout(fail);
    await browser.close();
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`check_report: ${p}`);
    process.exit(1);
  }
  console.log(`check_report: ok; screenshots in ${outDir}`);
}

main().catch((e) => {
  console.error(`check_report: ${e.stack || e}`);
  process.exit(1);
});
