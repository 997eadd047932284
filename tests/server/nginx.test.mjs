// Scale-out: two `mini-llm serve` replicas behind nginx (least_conn) on loopback; requests keep
// succeeding when one replica is killed. nginx runs unprivileged from a temporary prefix.
// MINILLM_NGINX overrides the nginx path.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { longChat, metrics, startServer, stopServer, waitFor } from './lib/server.mjs';

let replicas = [];
let nginx;
let prefix;
let url;

// The configuration README-serve.md documents, with ports and paths filled in.
export function nginxConfig({ listenPort, upstreamPorts, user }) {
  return `${user ? `user ${user};\n` : ''}worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;

  upstream minillm {
    least_conn;
${upstreamPorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=30s;`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${listenPort};
    client_max_body_size 9m;
    location / {
      proxy_pass http://minillm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
      proxy_next_upstream error timeout non_idempotent;
      proxy_next_upstream_tries 2;
    }
  }
}
`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

before(async () => {
  replicas = await Promise.all([startServer({ parallel: 2, ctx: 512 }),
                                startServer({ parallel: 2, ctx: 512 })]);
  prefix = mkdtempSync(path.join(os.tmpdir(), 'minillm-nginx-'));
  const listenPort = await freePort();
  // As root, nginx would run its worker as nobody, which cannot use the private prefix.
  const user = process.getuid?.() === 0 ? 'root' : null;
  writeFileSync(path.join(prefix, 'nginx.conf'),
                nginxConfig({ listenPort, upstreamPorts: replicas.map((r) => r.port), user }));
  for (const dir of ['tmp', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
    mkdirSync(path.join(prefix, dir), { recursive: true });
  }
  nginx = spawn(process.env.MINILLM_NGINX ?? '/usr/sbin/nginx',
                ['-p', prefix + '/', '-e', 'error.log', '-c', 'nginx.conf', '-g', 'daemon off;'],
                { stdio: ['ignore', 'inherit', 'inherit'] });
  url = `http://127.0.0.1:${listenPort}`;
  await waitFor(async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${errorLog()}`);
    return (await fetch(url + '/health').catch(() => null))?.status === 200;
  }, 10000, 'nginx answers /health');
});

after(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = once(nginx, 'exit');
    nginx.kill('SIGQUIT');
    await exited;
  }
  for (const r of replicas) if (r.alive()) await stopServer(r, assert);
  if (prefix) rmSync(prefix, { recursive: true, force: true });
});

function errorLog() {
  try {
    return readFileSync(path.join(prefix, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

async function chatThroughNginx(maxTokens = 8) {
  const res = await fetch(url + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(longChat(maxTokens)) });
  const text = await res.text();
  return { status: res.status, text };
}

// Sends `count` requests, `concurrency` at a time; `onDone(i)` after each one.
async function burst(count, concurrency, onDone = () => {}) {
  const results = [];
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++;
      results.push(await chatThroughNginx());
      onDone(++done);
    }
  }));
  return results;
}

const requestsOk = (m) => Object.entries(m)
  .filter(([k]) => k.startsWith('minillm_requests_total{') && k.includes('status="200"'))
  .reduce((sum, [, v]) => sum + v, 0);

test('both replicas take requests through nginx', async () => {
  const before = await Promise.all(replicas.map(metrics));
  const results = await burst(16, 4);
  for (const r of results) assert.equal(r.status, 200, r.text.slice(0, 200));
  const afterwards = await Promise.all(replicas.map(metrics));
  const served = replicas.map((_, i) => requestsOk(afterwards[i]) - requestsOk(before[i]));
  assert.ok(served.every((n) => n >= 1), `requests per replica: ${served}`);
});

test('a stream passes through nginx unbuffered', async () => {
  const res = await fetch(url + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(longChat(32, { stream: true })) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const text = await res.text();
  const events = text.split('\n').filter((l) => l.startsWith('data: '));
  assert.ok(events.length >= 2, text.slice(0, 300));
  assert.equal(events.at(-1), 'data: [DONE]');
});

test('non-streamed requests keep succeeding while one replica is killed', async () => {
  const [victim, survivor] = replicas;
  const results = await burst(40, 4, (done) => {
    if (done === 8) victim.child.kill('SIGKILL');
  });
  await waitFor(() => !victim.alive(), 2000, 'the killed replica is gone');
  const failed = results.filter((r) => r.status !== 200);
  assert.deepEqual(failed, [], `failed through nginx:\n${errorLog()}`);
  assert.equal(results.length, 40);
  // And afterwards, with one replica left.
  for (const r of await burst(10, 2)) assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.ok(survivor.alive());
});
