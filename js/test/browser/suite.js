// suite.html: a representative subset of the node --test suites' checks,
// with the pure-JS side in Web Workers and the wasm module on the page's
// main thread (which never blocks: polling and *Async variants only).
// window.suiteResults = [{name, ok, detail}]; document.body.dataset.state
// becomes 'done'.
import { load } from '../../src/index.js';

const out = document.getElementById('out');
const results = [];
window.suiteResults = results;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// A Worker of suite_worker.js, hosted (a party, dead when terminated).
async function worker(s, region) {
  const raw = new Worker(new URL('./suite_worker.js', import.meta.url), { type: 'module' });
  const hosted = s.host(raw);
  const queue = [], waiters = [];
  const deliver = (m) => (waiters.length ? waiters.shift()(m) : queue.push(m));
  raw.onmessage = (e) => deliver(e.data);
  raw.onerror = (e) => deliver({ error: e.message || 'worker failed' });
  const next = (ms = 20000) => queue.length ? Promise.resolve(queue.shift()) : new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no worker message within ${ms} ms`)), ms);
    waiters.push((m) => { clearTimeout(t); res(m); });
  });
  const call = async (msg) => { raw.postMessage(msg); const r = await next(); if (r.error) throw new Error(`worker: ${r.error}`); return r; };
  await call({ handle: s.workerHandle(region), party: hosted.party });
  return { raw, hosted, call, next, post: (m) => raw.postMessage(m) };
}

async function check(name, fn) {
  try {
    const detail = await fn();
    results.push({ name, ok: true, detail: detail || '' });
  } catch (e) {
    results.push({ name, ok: false, detail: `${e.code || ''} ${e.message}` });
  }
  out.textContent += `${results.at(-1).ok ? 'ok' : 'FAIL'} ${name} ${results.at(-1).detail}\n`;
}

const STEP = 'struct Step { obs: f32[3]; rew: f32; done: bool; }';
const V2 = 'struct V { x: f32; y: f32; }';

try {
  const s = await load();
  assert(s.mode === 'shared', `mode is ${s.mode}, want shared (crossOriginIsolated ${crossOriginIsolated})`);

  await check('regions: a Worker sees the directory the module wrote; a bad offset is refused', async () => {
    const r = s.createRegion({ name: 'suite-r', size: 4 << 20 });
    r.alloc('blob', { size: 1000 });
    r.createWeights('wts', { size: 256 });
    r.createRing('ring', { schema: s.schema(STEP), steps: 2, envs: 1, capacity: 4, producers: 1 });
    const wk = await worker(s, r);
    const { objects } = await wk.call({ op: 'objects' });
    for (const name of ['blob', 'wts', 'ring']) {
      const mine = r.find(name), theirs = objects.find((o) => o.name === name);
      assert(theirs && theirs.kind === mine.kind && theirs.offset === mine.offset && theirs.size === mine.size,
        `object '${name}': worker sees ${JSON.stringify(theirs)}, module ${JSON.stringify(mine)}`);
    }
    const bad = await wk.call({ op: 'badRegion', base: r.base + 64 });
    assert(bad.code === 'SABRE_ECORRUPT' && /magic is/.test(bad.message), `bad region: ${bad.code} ${bad.message}`);
    await wk.hosted.terminate();
    r.close();
    return `${objects.length} objects`;
  });

  await check('weights: pin protocol, 60 versions adopted whole in a Worker; main thread waits only async', async () => {
    const r = s.createRegion({ name: 'suite-w', size: 4 << 20 });
    const w = r.createWeights('wts', { size: 4096, slots: 4, readers: 4 });
    const wk = await worker(s, r);
    wk.post({ op: 'weights', name: 'wts', until: 60 });
    const data = new Float32Array(1024);
    for (let v = 1; v <= 60; v++) {
      data.fill(v);
      assert(w.publish(data) === v, `publish ${v}`);
      if (v % 10 === 0) await sleep(1);
    }
    const res = await wk.next();
    assert(!res.error, res.error);
    assert(res.seen === 60 && res.torn === 0 && res.adopts >= 1, `worker: ${JSON.stringify(res)}`);
    const rd = w.reader();
    let msg = '';
    try { rd.waitForVersion(60, 100); } catch (e) { msg = `${e.code} ${e.message}`; }
    assert(/SABRE_ENOTSUP/.test(msg) && /waitForVersionAsync/.test(msg), `waitForVersion on the main thread: '${msg}'`);
    setTimeout(() => { data.fill(61); w.publish(data); }, 20);
    const got = await rd.waitForVersionAsync(60, 5000);
    assert(got === true && w.version() === 61, `waitForVersionAsync: ${got}, version ${w.version()}`);
    rd.close();
    await wk.hosted.terminate();
    r.close();
    return `${res.adopts} adoptions`;
  });

  await check('weights: a terminated Worker\'s pin no longer holds its slot', async () => {
    const r = s.createRegion({ name: 'suite-p', size: 4 << 20 });
    const w = r.createWeights('wts', { size: 256, slots: 2, readers: 2 });
    const data = new Float32Array(64);
    w.publish(data.fill(1));
    const wk = await worker(s, r);
    wk.post({ op: 'pinAndHang', name: 'wts' });
    const pin = await wk.next();
    assert(pin.pinned === 1, `pinned ${JSON.stringify(pin)}`);
    w.publish(data.fill(2));
    let refused = '';
    try { w.publish(data.fill(3)); } catch (e) { refused = e.code; }
    assert(refused !== '', 'publish 3 succeeded while version 1\'s slot was pinned and version 2 current');
    await wk.hosted.terminate();
    assert(!s.partyAlive(wk.hosted.party), 'party still alive after terminate');
    const v = w.publish(data.fill(3));
    assert(v === 3, `publish after terminate: version ${v}`);
    r.close();
    return `refused with ${refused} while pinned`;
  });

  await check('ring: 2 Worker producers x 100 claims x 3 chunks, consumed checksummed on the main thread', async () => {
    const r = s.createRegion({ name: 'suite-q', size: 8 << 20 });
    const ring = r.createRing('roll', { schema: s.schema(STEP), steps: 4, envs: 2, capacity: 16, producers: 2, policy: 'block' });
    const c = ring.consumer();
    const wks = [await worker(s, r), await worker(s, r)];
    for (const wk of wks) wk.post({ op: 'produce', name: 'roll', claims: 100, n: 3 });
    const seen = new Map();
    let got = 0, bad = 0;
    const deadline = performance.now() + 30000;
    while (got < 600 && performance.now() < deadline) {
      const b = c.consume(256, 0);
      if (!b) { await sleep(1); continue; }
      for (let i = 0; i < b.count; i++) {
        const obs = b.field('obs', i), q = b.field('rew', i)[0], [T, E, K] = obs.shape;
        for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) for (let j = 0; j < K; j++) if (obs[(t * E + e) * K + j] !== q * 1000 + t * 100 + e * 10 + j) bad++;
        seen.set(q, (seen.get(q) || 0) + 1);
      }
      got += b.count;
      c.release();
    }
    for (const wk of wks) { const m = await wk.next(); assert(!m.error && m.produced === 300, `producer: ${JSON.stringify(m)}`); }
    assert(got === 600 && bad === 0, `consumed ${got} chunks, ${bad} bad values`);
    assert([...seen.values()].every((k) => k === 2) && seen.size === 300, 'every sequence from both producers exactly once');
    const st = ring.stats();
    assert(st.produced === 600 && st.consumed === 600, `stats ${JSON.stringify(st)}`);
    for (const wk of wks) await wk.hosted.terminate();
    c.close(); ring.close(); r.close();
    return `${got} chunks`;
  });

  await check('snapshot: 2 Workers integrate and mark rows; commit writes exactly the serial result', async () => {
    const n = 10000, dt = 1 / 60;
    const r = s.createRegion({ name: 'suite-s', size: 16 << 20 });
    const w = r.createWorld({ chunkRows: 4096 });
    const Pos = w.defineComponent('Pos', V2), Vel = w.defineComponent('Vel', V2);
    w.spawn(n, [Pos, Vel]);
    const chunks = () => w.tables().flatMap((t) => t.chunks.map((c, k) => [t.table, k, c.rows])).filter((x) => x[2]);
    let k = 0;
    for (const [t, ch] of chunks()) {
      const v = w.chunkView(t, ch), P = v.component('Pos'), V = v.component('Vel');
      for (let i = 0; i < v.rows; i++, k++) { P.column('x')[i] = k; P.column('y')[i] = -k; V.column('x')[i] = (k % 7) - 3; V.column('y')[i] = (k % 5) * 0.25; }
    }
    const ex = new Float32Array(n), ey = new Float32Array(n);
    for (let j = 0; j < n; j++) { ex[j] = j; ey[j] = -j; ex[j] += ((j % 7) - 3) * dt; ey[j] += (j % 5) * 0.25 * dt; }
    const q = w.query({ all: [Pos, Vel] });
    const snap = w.snapshot(q, { read: [Vel], write: [Pos], name: 'phys' });
    const wks = [await worker(s, r), await worker(s, r)];
    const half = Math.ceil(snap.rows / 128) * 64;
    const res = await Promise.all(wks.map((wk, i) => wk.call({ op: 'integrate', name: 'phys', begin: i ? half : 0, end: i ? snap.rows : half, dt })));
    const st = snap.commit();
    assert(st.written === n && st.skippedDead === 0, `commit ${JSON.stringify(st)}`);
    let want = 0;
    for (let i = 0; i < n; i++) want += snap.view.entityWords[2 * i];
    assert(res[0].idSum + res[1].idSum === want, 'entity-id column seen by the Workers');
    let j = 0, bad = 0;
    for (const [t, ch] of chunks()) {
      const P = w.chunkView(t, ch).component('Pos');
      for (let i = 0; i < P.rows; i++, j++) if (P.column('x')[i] !== ex[j] || P.column('y')[i] !== ey[j]) bad++;
    }
    assert(j === n && bad === 0, `${bad} of ${j} rows differ from the serial result`);
    for (const wk of wks) await wk.hosted.terminate();
    snap.free(); q.close(); w.close(); r.close();
    return `${st.written} rows`;
  });
} catch (e) {
  results.push({ name: 'load', ok: false, detail: `${e.code || ''} ${e.message}` });
}
document.body.dataset.state = 'done';
