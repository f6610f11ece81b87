// Headless Chromium tests of sabre in the browser (scripts/test.sh step 5).
// Serves the repository on 127.0.0.1 twice, with the COOP/COEP headers and
// without them (js/tools/serve.mjs), drives Debian's chromium with
// puppeteer-core@23 (installed into js/.browser-test by scripts/deps.sh) and
// checks:
//   isolated:     the worker suites (suite.html: regions, weights pin
//                 protocol, ring produce/consume, snapshot commit, in Web
//                 Workers against the wasm module); the physics page (both
//                 modes bit-identical to serial; a screenshot of its canvas
//                 shows the particles); the RL page (versions increase).
//   not isolated: the physics page in transfer mode, bit-identical to
//                 serial; the RL page shows the COOP/COEP error.
// Prints TAP.  Exit status 0 all passed, 1 a check failed, 3 chromium
// cannot start (the reason is printed; test.sh then skips).
// Usage: node --no-experimental-fetch js/test/browser/run.mjs [--only NAME]
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { serve } from '../../tools/serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const modDir = path.resolve(here, '../../.browser-test/node_modules/puppeteer-core');
const CHROMIUM = process.env.SABRE_CHROMIUM || '/usr/bin/chromium';
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const TOTAL_MS = 170000;
const killer = setTimeout(() => { console.log(`not ok - the browser tests ran past ${TOTAL_MS / 1000} s`); process.exit(1); }, TOTAL_MS);

if (!existsSync(modDir)) {
  console.log(`not ok - puppeteer-core is not installed in ${modDir} (bash scripts/deps.sh installs it)`);
  process.exit(1);
}
const puppeteer = (await import(pathToFileURL(path.join(modDir, 'lib/esm/puppeteer/puppeteer-core.js')).href)).default;

let browser;
try {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, timeout: 30000,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
} catch (e) {
  console.log(`# SKIP: chromium cannot start (${CHROMIUM}): ${String(e.message).split('\n')[0]}`);
  process.exit(3);
}

const iso = await serve({ port: 0, isolation: true });
const plain = await serve({ port: 0, isolation: false });
let n = 0, failed = 0;
const results = [];
async function check(name, fn) {
  if (only && !name.includes(only)) return;
  n++;
  const t0 = Date.now();
  try {
    const note = await fn();
    console.log(`ok ${n} - ${name}${note ? ` # ${note}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}\n  ---\n  ${String(e.stack || e).split('\n').join('\n  ')}\n  ...`);
  }
}

// A page with its console and errors collected (printed when a check fails).
async function open(url) {
  const page = await browser.newPage();
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  page.sabreLog = log;
  return page;
}
async function waitState(page, timeout) {
  try {
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), { timeout, polling: 200 });
  } catch (e) {
    throw new Error(`page did not finish within ${timeout} ms: ${e.message}\n${page.sabreLog.join('\n')}`);
  }
  return page.evaluate(() => document.body.dataset.state);
}
const must = (cond, msg, page) => { if (!cond) throw new Error(msg + (page ? '\n' + page.sabreLog.join('\n') : '')); };

// Non-background pixels of the physics canvas, from a screenshot (PNG
// decoded by the page itself into an ImageData).
async function drawnPixels(page) {
  const canvas = await page.$('#canvas');
  const png = await canvas.screenshot({ encoding: 'base64' });
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = new OffscreenCanvas(img.width, img.height), g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, img.width, img.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 16) + Math.abs(d[i + 1] - 20) + Math.abs(d[i + 2] - 24) > 60) lit++;
    return { lit, total: img.width * img.height };
  }, png);
}

await check('isolated: node suites\' checks in Web Workers (suite.html)', async () => {
  const page = await open(`${iso.url}js/test/browser/suite.html`);
  await waitState(page, 60000);
  const res = await page.evaluate(() => window.suiteResults);
  for (const r of res) console.log(`#   ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} ${r.detail}`);
  must(res.length === 5 && res.every((r) => r.ok), `${res.filter((r) => !r.ok).length} of ${res.length} suite checks failed`, page);
  await page.close();
  return `${res.length} checks`;
});

await check('isolated: physics page, snapshot and in-place modes bit-identical to serial, particles drawn', async () => {
  const page = await open(`${iso.url}examples/web/physics/?n=20000&frames=60`);
  const st = await waitState(page, 60000);
  must(st === 'done', `state is ${st}: ${await page.$eval('#error', (e) => e.textContent)}`, page);
  const r = await page.evaluate(() => ({ r: window.physicsResult, iso: crossOriginIsolated }));
  must(r.iso === true, 'page is not cross-origin isolated');
  must(r.r.mode === 'shared', `sabre mode is ${r.r.mode}, want shared`);
  must(r.r.modes.map((m) => m.mode).join() === 'snapshot,inplace', `modes are ${r.r.modes.map((m) => m.mode)}`);
  for (const m of r.r.modes) must(m.identical, `mode ${m.mode}: final state differs from the serial run`);
  const px = await drawnPixels(page);
  must(px.lit > 5000, `canvas has ${px.lit} drawn pixels of ${px.total}, want > 5000 (particles)`);
  const shown = await page.$$eval('#results tbody tr', (rows) => rows.map((r) => r.textContent));
  must(shown.length === 3 && shown.filter((t) => t.includes('bit-identical')).length === 2, `results table: ${shown}`);
  await page.close();
  return r.r.modes.map((m) => `${m.mode} ${m.msPerFrame.toFixed(2)} ms/frame`).join(', ') + `, ${px.lit} pixels lit`;
});

await check('not isolated: physics page in transfer mode, bit-identical to serial', async () => {
  const page = await open(`${plain.url}examples/web/physics/?n=20000&frames=60`);
  const st = await waitState(page, 60000);
  must(st === 'done', `state is ${st}: ${await page.$eval('#error', (e) => e.textContent)}`, page);
  const r = await page.evaluate(() => ({ r: window.physicsResult, iso: crossOriginIsolated, sab: typeof SharedArrayBuffer }));
  must(r.iso === false && r.sab === 'undefined', `page isolated ${r.iso}, SharedArrayBuffer ${r.sab}: want false, undefined`);
  must(r.r.mode === 'transfer' && r.r.modes.length === 1 && r.r.modes[0].mode === 'transfer', `modes: ${JSON.stringify(r.r.modes)}`);
  must(r.r.modes[0].identical, 'transfer mode: final state differs from the serial run');
  const px = await drawnPixels(page);
  must(px.lit > 5000, `canvas has ${px.lit} drawn pixels, want > 5000`);
  await page.close();
  return `transfer ${r.r.modes[0].msPerFrame.toFixed(2)} ms/frame`;
});

await check('isolated: RL page adopts increasing weights versions every animation frame', async () => {
  const page = await open(`${iso.url}examples/web/rl/?actors=2`);
  await page.waitForFunction(() => ['running', 'error'].includes(document.body.dataset.state), { timeout: 30000, polling: 200 })
    .catch((e) => { throw new Error(`${e.message}\n${page.sabreLog.join('\n')}`); });
  const first = await page.evaluate(() => ({ ...window.rlStatus, curve: window.rlStatus.curve.length }));
  must(!first.error, `page error: ${first.error}`, page);
  await page.waitForFunction((v) => window.rlStatus.error || (window.rlStatus.adoptedVersion >= v + 3 && window.rlStatus.curve.length >= 3),
    { timeout: 45000, polling: 250 }, first.adoptedVersion)
    .catch((e) => { throw new Error(`versions did not increase: ${e.message}\n${page.sabreLog.join('\n')}`); });
  const last = await page.evaluate(() => ({ ...window.rlStatus, text: document.getElementById('version').textContent }));
  must(!last.error, `page error: ${last.error}`, page);
  must(last.adoptedVersion > first.adoptedVersion && Number(last.text) >= last.adoptedVersion - 1, `version ${first.adoptedVersion} -> ${last.adoptedVersion} (shown ${last.text})`);
  const vs = last.curve.map((p) => p[0]);
  must(vs.every((v, i) => i === 0 || v > vs[i - 1]), `learning curve versions not increasing: ${vs}`);
  await page.close();
  return `version ${first.adoptedVersion} -> ${last.adoptedVersion}, ${last.adoptions} adoptions, episode ${last.curve[0][1].toFixed(0)} -> ${last.curve[last.curve.length - 1][1].toFixed(0)}`;
});

await check('not isolated: RL page shows the COOP/COEP error', async () => {
  const page = await open(`${plain.url}examples/web/rl/`);
  await page.waitForFunction(() => ['running', 'error'].includes(document.body.dataset.state), { timeout: 30000, polling: 200 })
    .catch((e) => { throw new Error(`${e.message}\n${page.sabreLog.join('\n')}`); });
  const shown = await page.$eval('#error', (e) => e.textContent);
  must(/^SABRE_ENOTSUP: /.test(shown) && shown.includes('Cross-Origin-Opener-Policy: same-origin') &&
    shown.includes('Cross-Origin-Embedder-Policy: require-corp') && shown.includes('SharedArrayBuffer'), `error shown: '${shown}'`, page);
  await page.close();
  return shown.slice(0, 60) + '...';
});

clearTimeout(killer);
await browser.close();
iso.server.close();
plain.server.close();
console.log(`1..${n}`);
console.log(`# browser: ${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
