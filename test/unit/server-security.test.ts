// Browser mode's security: loopback only, a token on every request and on the WebSocket, Host and
// Origin checks against DNS rebinding and cross-site use, CSP on pages, no path traversal.
// Runs the real server on a lab made by the real CLI (`hardway-lab render`).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startServer, type RunningServer } from '../../main/server/serve.ts';

const root = new URL('../..', import.meta.url).pathname;
let labDir: string;
let server: RunningServer;

before(async () => {
  labDir = await mkdtemp(join(tmpdir(), 'hwl-server-sec-'));
  execFileSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'render', '--lab', labDir], { stdio: 'pipe' });
  server = await startServer({ lab: labDir });
});

after(async () => {
  await server?.close();
  await rm(labDir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

test('startServer refuses to listen anywhere but 127.0.0.1', async () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.10', 'localhost']) {
    await assert.rejects(startServer({ lab: labDir, host }), /listens on 127\.0\.0\.1 only/, `host ${host} must be refused`);
  }
});

test('the listening socket is bound to 127.0.0.1 only (checked in /proc/net/tcp*)', () => {
  const portHex = server.port.toString(16).toUpperCase().padStart(4, '0');
  const listening = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${portHex}`) && f[3] === '0A');
  const v4 = listening('/proc/net/tcp');
  assert.equal(v4.length, 1, 'exactly one IPv4 listener on the port');
  assert.equal(v4[0]![1], `0100007F:${portHex}`, 'bound to 127.0.0.1, not 0.0.0.0');
  assert.equal(listening('/proc/net/tcp6').length, 0, 'no IPv6 listener');
  assert.match(server.url, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/\\?token=[A-Za-z0-9_-]{43}$`));
});

test('requests without the token get 401, with a wrong token 403', async () => {
  for (const path of ['/', '/index.html', '/app.js', '/styles.css']) {
    const reply = await http(path);
    assert.equal(reply.status, 401, `${path} without token`);
    assert.doesNotMatch(reply.body, /<script|xterm/i, 'no app content leaks with a refusal');
  }
  assert.equal((await http('/?token=wrong')).status, 403);
  assert.equal((await http('/', { headers: { cookie: `hwl_token_${server.port}=${'x'.repeat(43)}` } })).status, 403);
  assert.equal((await http('/api/call/getLab', { method: 'POST', body: '[]' })).status, 401);
  assert.equal((await http('/api/call/getLab', { method: 'POST', body: '[]', headers: { 'x-hardway-token': 'nope' } })).status, 403);
  // The cookie of another port (another server on this machine) is not this server's.
  assert.equal((await http('/', { headers: { cookie: `hwl_token_1=${server.token}` } })).status, 401);
});

test('the token in the URL is traded for an HttpOnly SameSite=Strict cookie; pages carry the CSP', async () => {
  const first = await http(`/?token=${server.token}`);
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/', 'the token is dropped from the address bar');
  const cookie = String(first.headers['set-cookie']);
  assert.match(cookie, new RegExp(`hwl_token_${server.port}=${server.token}`));
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);

  const page = await http('/', { headers: { cookie: `hwl_token_${server.port}=${server.token}` } });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="app.js" defer><\/script>/);
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'scripts only from the server, no inline, no eval');
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal(page.headers['cache-control'], 'no-store');
});

test('a foreign Host header (DNS rebinding) or Origin is refused even with the right token', async () => {
  const token = { 'x-hardway-token': server.token };
  assert.equal((await http('/', { headers: { ...token, host: `evil.example:${server.port}` } })).status, 421);
  assert.equal((await http('/', { headers: { ...token, host: '127.0.0.1:1' } })).status, 421);
  assert.equal((await http('/', { headers: { ...token, host: `localhost:${server.port}` } })).status, 200);
  const cross = await http('/api/call/getLab', { method: 'POST', body: '[]', headers: { ...token, origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
  const same = await http('/api/call/getLab', { method: 'POST', body: '[]', headers: { ...token, origin: `http://127.0.0.1:${server.port}` } });
  assert.equal(same.status, 200);
  assert.equal(JSON.parse(same.body).result.name, 'hardway');
});

test('no path traversal out of the renderer directory', async () => {
  const token = { 'x-hardway-token': server.token };
  for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/../../etc/passwd', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd']) {
    const reply = await http(path, { headers: token });
    assert.equal(reply.status, 404, path);
    assert.doesNotMatch(reply.body, /root:|"name"/);
  }
});

function wsOpen(url: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
    });
    ws.once('error', () => resolve({ status: -1 }));
  });
}

test('the WebSocket needs the token and this server as Origin', async () => {
  const base = `ws://127.0.0.1:${server.port}/api/ws`;
  const origin = `http://127.0.0.1:${server.port}`;
  assert.equal((await wsOpen(base, { origin })).status, 401);
  assert.equal((await wsOpen(`${base}?token=wrong`, { origin })).status, 403);
  assert.equal((await wsOpen(`${base}?token=${server.token}`, { origin: 'http://evil.example' })).status, 403);
  assert.equal((await wsOpen(`${base}?token=${server.token}`, { origin, host: 'evil.example' })).status, 421);

  const { ws } = await wsOpen(base, { origin, cookie: `hwl_token_${server.port}=${server.token}` });
  assert.ok(ws, 'the cookie opens the socket');
  const messages: Array<{ t: string; id?: number; result?: { name: string; nodes: unknown[] }; error?: unknown }> = [];
  const reply = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      messages.push(JSON.parse(String(data)));
      if (messages.some((m) => m.t === 'reply')) resolve();
    });
  });
  ws.send(JSON.stringify({ t: 'call', id: 7, method: 'getLab', params: [] }));
  await reply;
  const answer = messages.find((m) => m.t === 'reply')!;
  assert.equal(answer.id, 7);
  assert.equal(answer.result?.name, 'hardway');
  assert.equal(answer.result?.nodes.length, 6);
  ws.close();
});

test('malformed calls are answered with a clear error, not a crash', async () => {
  const token = { 'x-hardway-token': server.token };
  const unknown = await http('/api/call/rmRf', { method: 'POST', body: '[]', headers: token });
  assert.equal(unknown.status, 400);
  assert.match(JSON.parse(unknown.body).error.message, /unknown API method "rmRf"/);
  const badParams = await http('/api/call/openTerminal', { method: 'POST', body: '["controller-0; rm -rf /", 80, 24]', headers: token });
  assert.equal(badParams.status, 400);
  assert.match(JSON.parse(badParams.body).error.message, /parameter 1 must be a name or id/);
  const notJson = await http('/api/call/getLab', { method: 'POST', body: '{', headers: token });
  assert.equal(notJson.status, 400);
  assert.equal((await http('/api/call/getLab', { headers: token })).status, 405);
});
