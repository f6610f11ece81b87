#!/usr/bin/env node
// serve.mjs - serves the repository (the JS package and examples/web/) on
// 127.0.0.1 for browsers, with the cross-origin isolation headers that
// SharedArrayBuffer needs:
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
// or, with --no-isolation, without them (the pages then run in transfer
// mode: docs/js.md, "Without cross-origin isolation").
//
// Usage: node js/tools/serve.mjs [--no-isolation] [--port N]   (N = 0: any free port)
// Prints the URL of the examples' index.  Plain node:http, no npm module.
// Also a module: serve({root, port, isolation}) -> Promise<{server, url}>.
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm', '.css': 'text/css; charset=utf-8', '.md': 'text/plain; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.txt': 'text/plain; charset=utf-8',
};
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export function serve({ root = ROOT, port = 8080, isolation = true, log = null } = {}) {
  const server = http.createServer(async (req, res) => {
    const headers = { 'Cache-Control': 'no-store', 'Cross-Origin-Resource-Policy': 'same-origin' };
    if (isolation) Object.assign(headers, ISOLATION_HEADERS);
    const send = (code, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { ...headers, 'Content-Type': type });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET or HEAD only\n');
    let rel;
    try { rel = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { return send(400, 'bad path\n'); }
    if (rel === '/') { res.writeHead(302, { ...headers, Location: '/examples/web/' }); return res.end(); }
    const file = path.resolve(root, '.' + rel);
    if (file !== root && !file.startsWith(root + path.sep)) return send(403, 'outside the served folder\n');
    try {
      let f = file;
      if ((await stat(f)).isDirectory()) {
        if (!rel.endsWith('/')) { res.writeHead(301, { ...headers, Location: rel + '/' }); return res.end(); }
        f = path.join(f, 'index.html');
      }
      const body = await readFile(f);
      if (log) log(`${req.method} ${rel} 200`);
      send(200, body, TYPES[path.extname(f)] || 'application/octet-stream');
    } catch {
      if (log) log(`${req.method} ${rel} 404`);
      send(404, `not found: ${rel}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/`;
      resolve({ server, url });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let port = 8080, isolation = true;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--no-isolation') isolation = false;
    else if (args[i] === '--port' && /^\d+$/.test(args[i + 1] || '')) port = Number(args[++i]);
    else {
      console.error(`serve: argument is '${args[i]}', want --no-isolation or --port N`);
      process.exit(2);
    }
  }
  try {
    const { url } = await serve({ port, isolation });
    console.log(`sabre: serving ${ROOT} ${isolation ? 'with' : 'WITHOUT'} COOP/COEP headers ` +
      `(${isolation ? 'shared mode' : 'transfer mode'})`);
    console.log(`${url}examples/web/`);
  } catch (e) {
    console.error(`serve: cannot listen on 127.0.0.1:${port}: ${e.message}`);
    process.exit(1);
  }
}
