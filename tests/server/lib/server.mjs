// Starts and stops `mini-llm serve` for the tests in this folder.
//
// MINILLM_BIN names the binary. When it is llama.cpp's llama-server (its file name starts with
// "llama-server", or MINILLM_SERVER_KIND=llama-server), the same options are translated to
// llama-server's flags, so the suites can be run against it as a measuring stick.
// MINILLM_DEMO_MODEL names the model (default: models/stories260K.gguf of this checkout).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const demoModel =
  process.env.MINILLM_DEMO_MODEL ?? path.join(repoRoot, 'models/stories260K.gguf');
export const artifactDir =
  process.env.MINILLM_ARTIFACT_DIR ?? path.join(repoRoot, 'build/tests/artifacts');

export function serverBinary() {
  const bin = process.env.MINILLM_BIN;
  if (!bin) throw new Error('MINILLM_BIN is not set (path of mini-llm, or of llama-server)');
  return bin;
}

export function isLlamaServer() {
  return (
    process.env.MINILLM_SERVER_KIND === 'llama-server' ||
    path.basename(serverBinary()).startsWith('llama-server')
  );
}

const ourLine = /^listening on http:\/\/([^\s/]+):(\d+)$/;
const llamaLine = /server is listening on http:\/\/([^\s/]+):(\d+)/;

function commandLine(opts) {
  const model = opts.model ?? demoModel;
  if (isLlamaServer()) {
    const args = ['-m', model, '--port', '0', '--metrics', '-t', String(opts.threads ?? 1)];
    if (opts.parallel) args.push('-np', String(opts.parallel));
    if (opts.ctx) args.push('-c', String(opts.ctx * (opts.parallel ?? 1))); // split over slots
    if (opts.apiKey) args.push('--api-key', opts.apiKey);
    if (opts.timeout) args.push('-to', String(opts.timeout));
    if (opts.chatTemplate) args.push('--chat-template', opts.chatTemplate);
    // --max-queue has no llama-server equivalent; the tests that need it fail there.
    return [serverBinary(), args];
  }
  const args = ['serve', '-m', model, '--port', '0', '-t', String(opts.threads ?? 1)];
  if (opts.parallel) args.push('--parallel', String(opts.parallel));
  if (opts.ctx) args.push('-c', String(opts.ctx));
  if (opts.apiKey) args.push('--api-key', opts.apiKey);
  if (opts.maxQueue) args.push('--max-queue', String(opts.maxQueue));
  if (opts.timeout) args.push('--timeout', String(opts.timeout));
  if (opts.chatTemplate) args.push('--chat-template', opts.chatTemplate);
  return [serverBinary(), args];
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// Starts a server; resolves once it accepts connections and /health is 200.
// opts: parallel, ctx, threads, apiKey, maxQueue, timeout, chatTemplate, model.
export async function startServer(opts = {}) {
  const [bin, args] = commandLine(opts);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let log = '';
  const keep = (text) => {
    log = (log + text).slice(-20000);
  };

  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('no "listening on" line within 30 s')), 30000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\ncommand: ${bin} ${args.join(' ')}\nlog:\n${log}`));
    };
    const done = (host, port) => {
      clearTimeout(timer);
      resolve({ host, port: Number(port) });
    };
    child.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`server exited (${code ?? signal})`)));
    const stdout = readline.createInterface({ input: child.stdout });
    const stderr = readline.createInterface({ input: child.stderr });
    let firstStdoutLine = true;
    stdout.on('line', (line) => {
      keep(line + '\n');
      if (isLlamaServer() || !firstStdoutLine) return;
      firstStdoutLine = false;
      const m = ourLine.exec(line);
      if (m) done(m[1], m[2]);
      else fail(new Error(`first stdout line is not "listening on http://HOST:PORT": ${line}`));
    });
    stderr.on('line', (line) => {
      keep(line + '\n');
      const m = isLlamaServer() && llamaLine.exec(line);
      if (m) done(m[1], m[2]);
    });
  });
  child.removeAllListeners('exit');
  child.on('exit', () => running.delete(child));

  const url = `http://${address.host}:${address.port}`;
  const server = {
    url,
    ...address,
    pid: child.pid,
    child,
    log: () => log,
    alive: () => child.exitCode === null && child.signalCode === null,
    // Sends `signal` and resolves with {code, signal, ms} once the process is gone, or rejects
    // after `withinMs`.
    async stop(signal = 'SIGTERM', withinMs = 5000) {
      if (!server.alive()) return { code: child.exitCode, signal: child.signalCode, ms: 0 };
      const start = Date.now();
      const exited = once(child, 'exit');
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), withinMs);
      const [code, sig] = await exited;
      clearTimeout(timer);
      const ms = Date.now() - start;
      if (ms >= withinMs) throw new Error(`server did not exit within ${withinMs} ms of ${signal}`);
      return { code, signal: sig, ms };
    },
    rssKiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
    },
  };
  await waitFor(async () => (await fetch(url + '/health').catch(() => null))?.status === 200, 10000,
                'GET /health is 200');
  return server;
}

// Stops a server with SIGTERM and checks the contract: exit code 0 within 5 s.
export async function stopServer(server, assert) {
  if (!server) return;
  const { code, signal, ms } = await server.stop('SIGTERM', 5000);
  assert.equal(signal, null, `server was killed by ${signal}\n${server.log()}`);
  assert.equal(code, 0, `server exited with ${code} after SIGTERM (${ms} ms)\n${server.log()}`);
}

// Polls `predicate` (sync or async) every 20 ms until it is true; throws after `ms`.
export async function waitFor(predicate, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Parses Prometheus text: {"name{labels}": value, name: value}.
export async function metrics(server) {
  const res = await fetch(server.url + '/metrics').catch((err) => {
    throw new Error(`GET /metrics: ${err.cause?.message ?? err.message}`);
  });
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  const out = {};
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// Sums a metric over all its label sets.
export function metricSum(all, name) {
  let sum = 0;
  let found = false;
  for (const [key, value] of Object.entries(all)) {
    if (key === name || key.startsWith(name + '{')) {
      sum += value;
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} is missing`);
  return sum;
}

// POSTs JSON (or a raw string/Buffer body) and returns {status, headers, json, text}.
export async function post(server, route, body, headers = {}) {
  const raw = typeof body === 'string' || Buffer.isBuffer(body);
  const res = await fetch(server.url + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, json, text };
}

// A chat request that runs to max_tokens: a story prompt, and ignore_eos (a llama.cpp extension
// that mini-llm understands too) so that an early end-of-text does not cut it short.
export function longChat(maxTokens, extra = {}) {
  return {
    model: 'stories260K.gguf',
    messages: [{ role: 'user', content: 'Once upon a time' }],
    max_tokens: maxTokens,
    temperature: 1,
    ignore_eos: true,
    ...extra,
  };
}
