#!/usr/bin/env node
// Load client for OpenAI-compatible servers (mini-llm serve, llama-server): N concurrent
// streaming clients send M chat requests each and read every token.
//
//   node tests/server/load.mjs --url http://127.0.0.1:8080 --clients 32 --requests 8 --max-tokens 128
//   node tests/server/load.mjs --spawn --parallel 4 ...   (starts $MINILLM_BIN on a free port)
//
// Each request asks for max_tokens at temperature 1 with "ignore_eos": true (a llama.cpp
// extension mini-llm understands too), so it runs to max_tokens. A 503 counts as a deliberate
// rejection, anything else that is not 200 as a failure, fewer tokens than asked as short.
// Prints one line per request on stderr, a summary, and a JSON summary as the last stdout line.
// Exit status 1 when a request failed or came back short.

import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    clients: { type: 'string', default: '32' },
    requests: { type: 'string', default: '8' },
    'max-tokens': { type: 'string', default: '128' },
    prompt: { type: 'string', default: 'Once upon a time, there was a little girl named Lily.' },
    temperature: { type: 'string', default: '1' },
    model: { type: 'string', default: 'default' },
    'api-key': { type: 'string' },
    spawn: { type: 'boolean', default: false },
    parallel: { type: 'string', default: '4' },
    ctx: { type: 'string', default: '1024' },
    threads: { type: 'string', default: '1' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log('usage: load.mjs [--url URL | --spawn [--parallel N] [--ctx N] [--threads N]] ' +
              '[--clients N] [--requests M] [--max-tokens T] [--prompt TEXT] [--temperature X] ' +
              '[--model NAME] [--api-key KEY] [--quiet]');
  process.exit(0);
}
const clients = Number(opt.clients);
const perClient = Number(opt.requests);
const maxTokens = Number(opt['max-tokens']);

// One streamed request; resolves with its outcome (never rejects).
async function oneRequest(url, client, index) {
  const headers = { 'content-type': 'application/json' };
  if (opt['api-key']) headers.authorization = `Bearer ${opt['api-key']}`;
  const body = {
    model: opt.model, messages: [{ role: 'user', content: opt.prompt }], max_tokens: maxTokens,
    temperature: Number(opt.temperature), ignore_eos: true, stream: true,
    stream_options: { include_usage: true },
  };
  const start = performance.now();
  const outcome = { client, index, status: null, tokens: 0, ttftMs: null, totalMs: null };
  try {
    const res = await fetch(url + '/v1/chat/completions', {
      method: 'POST', headers, body: JSON.stringify(body) });
    outcome.status = res.status;
    if (res.status !== 200) {
      outcome.error = (await res.text()).slice(0, 200);
      outcome.retryAfter = res.headers.get('retry-after');
      return outcome;
    }
    let chunks = 0;
    let usage = null;
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const bytes of res.body) {
      buffer += decoder.decode(bytes, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.usage) usage = chunk.usage;
          for (const choice of chunk.choices ?? []) {
            if (choice.delta?.content) {
              chunks++;
              outcome.ttftMs ??= performance.now() - start;
            }
          }
        }
      }
    }
    outcome.tokens = usage?.completion_tokens ?? chunks;
  } catch (err) {
    outcome.error = String(err.cause?.message ?? err.message ?? err);
  } finally {
    outcome.totalMs = performance.now() - start;
  }
  return outcome;
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (x) => (x === null ? null : Math.round(x * 10) / 10);

async function run(url) {
  const outcomes = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    for (let i = 0; i < perClient; i++) {
      const o = await oneRequest(url, client, i);
      outcomes.push(o);
      if (!opt.quiet) {
        const state = o.status === 200 && o.tokens >= maxTokens ? 'ok'
          : o.status === 503 ? 'rejected' : o.status === 200 ? 'short' : 'failed';
        console.error(`client ${client} request ${i}: ${state} status=${o.status} ` +
          `tokens=${o.tokens} ttft_ms=${round(o.ttftMs)} total_ms=${round(o.totalMs)}` +
          (o.error ? ` error=${JSON.stringify(o.error)}` : ''));
      }
    }
  }));
  const wallS = (performance.now() - started) / 1000;
  const ok = outcomes.filter((o) => o.status === 200 && o.tokens >= maxTokens);
  const served = outcomes.filter((o) => o.status === 200);
  const generated = served.reduce((n, o) => n + o.tokens, 0);
  const ttft = served.map((o) => o.ttftMs).filter((x) => x !== null);
  const total = served.map((o) => o.totalMs);
  return {
    url, clients, requests_per_client: perClient, max_tokens: maxTokens,
    sent: outcomes.length, ok: ok.length,
    short: served.length - ok.length,
    rejected_503: outcomes.filter((o) => o.status === 503).length,
    failed: outcomes.filter((o) => o.status !== 200 && o.status !== 503).length,
    generated_tokens: generated,
    wall_s: round(wallS),
    tokens_per_s: round(generated / wallS),
    ttft_ms: { p50: round(percentile(ttft, 50)), p99: round(percentile(ttft, 99)) },
    latency_ms: { p50: round(percentile(total, 50)), p99: round(percentile(total, 99)) },
  };
}

let server = null;
let url = opt.url.replace(/\/+$/, '');
if (opt.spawn) {
  const { startServer } = await import('./lib/server.mjs');
  server = await startServer({ parallel: Number(opt.parallel), ctx: Number(opt.ctx),
                               threads: Number(opt.threads), apiKey: opt['api-key'] });
  url = server.url;
}
const summary = await run(url);
if (server) {
  const { code, signal } = await server.stop('SIGTERM', 5000);
  if (code !== 0) {
    console.error(`the spawned server exited with ${code ?? signal} after SIGTERM`);
    summary.failed++;
  }
}
console.log(`${summary.sent} requests (${clients} clients x ${perClient}), ${summary.ok} complete, ` +
            `${summary.rejected_503} rejected (503), ${summary.short} short, ${summary.failed} failed`);
console.log(`time to first token: p50 ${summary.ttft_ms.p50} ms, p99 ${summary.ttft_ms.p99} ms; ` +
            `${summary.generated_tokens} tokens in ${summary.wall_s} s = ${summary.tokens_per_s} tokens/s`);
console.log(JSON.stringify(summary));
process.exit(summary.failed || summary.short ? 1 : 0);
