// Bad, hostile and unlucky clients: every error status of the contract, a corpus of broken
// requests, memory over 1,000 requests, disconnects, idle connections, signals.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { hostileCorpus } from './lib/corpus.mjs';
import { idleConnection, postLarge, rawExchange } from './lib/raw.mjs';
import {
  isLlamaServer, longChat, metricSum, metrics, post, serverBinary, startServer, stopServer, waitFor,
} from './lib/server.mjs';

const hi = [{ role: 'user', content: 'hi' }];
const chat = (extra) => ({ messages: hi, max_tokens: 2, ...extra });

// A streamed chat request that runs for 2,000 tokens (the context is 2048); resolves with the
// response once its headers arrived.
function longStream(server, signal) {
  return fetch(server.url + '/v1/chat/completions', {
    method: 'POST', signal, headers: { 'content-type': 'application/json' },
    body: JSON.stringify(longChat(2000, { stream: true })) });
}

// The OpenAI error object; `param` (string or RegExp) is checked when given.
function assertError(res, status, param, what = '') {
  assert.equal(res.status, status, `${what} status (body: ${res.text?.slice(0, 300)})`);
  const error = res.json?.error;
  assert.ok(error && typeof error === 'object', `an OpenAI error object: ${res.text?.slice(0, 300)}`);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 0, 'a message');
  assert.equal(typeof error.type, 'string');
  assert.ok('param' in error, 'error.param present (null allowed)');
  assert.ok('code' in error, 'error.code present (null allowed)');
  if (status === 400) assert.equal(error.type, 'invalid_request_error');
  if (param instanceof RegExp) assert.match(String(error.param), param);
  else if (param !== undefined) assert.equal(error.param, param);
  return error;
}

describe('request errors', () => {
  let server;
  before(async () => (server = await startServer({ parallel: 2, ctx: 256 })));
  after(() => stopServer(server, assert));

  test('malformed JSON is 400', async () => {
    for (const body of ['{"messages": [', '{"messages": hi}', '', '{"messages":[]}}']) {
      assertError(await post(server, '/v1/chat/completions', body), 400);
      assertError(await post(server, '/v1/completions', body), 400);
    }
  });

  test('wrong types are 400 naming the field', async () => {
    const cases = [
      [{ messages: 'hi' }, 'messages'],
      [{}, 'messages'],
      [chat({ max_tokens: 'ten' }), 'max_tokens'],
      [chat({ max_completion_tokens: [] }), 'max_completion_tokens'],
      [chat({ temperature: 'hot' }), 'temperature'],
      [chat({ top_p: {} }), 'top_p'],
      [chat({ stream: 'yes' }), 'stream'],
      [chat({ stop: 5 }), 'stop'],
      [chat({ n: '3' }), 'n'],
      [chat({ seed: 'abc' }), 'seed'],
      [chat({ logprobs: 'yes' }), 'logprobs'],
      [chat({ logit_bias: [1, 2] }), 'logit_bias'],
      [chat({ stream_options: 'usage' }), 'stream_options'],
      [chat({ presence_penalty: 'x' }), 'presence_penalty'],
      [chat({ frequency_penalty: null, top_logprobs: 'x', logprobs: true }), 'top_logprobs'],
      [{ messages: [{ role: 'user', content: 42 }] }, /^messages/],
      [{ messages: [{ role: 7, content: 'hi' }] }, /^messages/],
      [{ messages: [42] }, /^messages/],
    ];
    for (const [body, param] of cases) {
      assertError(await post(server, '/v1/chat/completions', body), 400, param, JSON.stringify(body));
    }
    assertError(await post(server, '/v1/completions', { prompt: {} }), 400, 'prompt');
    assertError(await post(server, '/v1/completions', { max_tokens: 1 }), 400, 'prompt');
    assertError(await post(server, '/v1/completions', { prompt: 'a', echo: 'yes' }), 400, 'echo');
  });

  test('out-of-range values are 400 naming the field', async () => {
    const cases = [
      [chat({ temperature: 2.5 }), 'temperature'],
      [chat({ temperature: -0.1 }), 'temperature'],
      [chat({ top_p: 1.5 }), 'top_p'],
      [chat({ n: 0 }), 'n'],
      [chat({ n: -2 }), 'n'],
      [chat({ max_tokens: -1 }), 'max_tokens'],
      [chat({ max_tokens: 1.5 }), 'max_tokens'],
      [chat({ max_tokens: 2 ** 53 }), 'max_tokens'],
      [chat({ presence_penalty: 3 }), 'presence_penalty'],
      [chat({ frequency_penalty: -2.5 }), 'frequency_penalty'],
      [chat({ logprobs: true, top_logprobs: 21 }), 'top_logprobs'],
      [chat({ logit_bias: { 5: 101 } }), 'logit_bias'],
      [chat({ logit_bias: { 'not-a-token': 1 } }), 'logit_bias'],
      [chat({ logit_bias: { 99999999: 1 } }), 'logit_bias'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'hi' }] }, /^messages/],
    ];
    for (const [body, param] of cases) {
      assertError(await post(server, '/v1/chat/completions', body), 400, param, JSON.stringify(body));
    }
  });

  test('a prompt longer than the context is 400 with both numbers', async () => {
    const long = 'Once upon a time there was a little dog who liked to play. '.repeat(40);
    const requests = [
      ['/v1/chat/completions', { messages: [{ role: 'user', content: long }], max_tokens: 4 }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: long }], stream: true }],
      ['/v1/completions', { prompt: long, max_tokens: 4 }],
    ];
    for (const [route, body] of requests) {
      const error = assertError(await post(server, route, body), 400);
      const numbers = (error.message.match(/\d+/g) ?? []).map(Number);
      assert.ok(numbers.includes(256), `the context size 256 in: ${error.message}`);
      assert.ok(numbers.some((n) => n > 256), `the prompt's token count in: ${error.message}`);
    }
  });

  test('unknown paths are 404', async () => {
    for (const [method, route] of [['GET', '/nope'], ['POST', '/v1/nope'], ['GET', '/v1/x/y']]) {
      const res = await fetch(server.url + route, { method, body: method === 'POST' ? '{}' : null });
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch {}
      assertError({ status: res.status, json, text }, 404);
    }
  });

  test('64 simultaneous connections are all answered at once', async () => {
    // A short listen backlog drops SYNs under a burst of connects; the kernel retries them
    // after 1 s, which shows up as a 1 s time to first token under load.
    const times = await Promise.all(Array.from({ length: 64 }, async () => {
      const start = Date.now();
      const res = await fetch(server.url + '/health', { headers: { connection: 'close' } });
      await res.text();
      assert.equal(res.status, 200);
      return Date.now() - start;
    }));
    assert.ok(Math.max(...times) < 900, `slowest of 64: ${Math.max(...times)} ms`);
  });

  test('unknown fields are ignored', async () => {
    const res = await post(server, '/v1/chat/completions', chat({ frobnicate: { a: [1] } }));
    assert.equal(res.status, 200, res.text);
  });

  test('a body over 8 MiB is 413, with Content-Length or chunked', async () => {
    const head = Buffer.from(JSON.stringify(chat()).slice(0, -1));
    const pad = Buffer.alloc(9 * 1024 * 1024, ' ');
    const tail = Buffer.from('}');
    for (const chunked of [false, true]) {
      const res = await postLarge(server, '/v1/chat/completions', [head, pad, tail], { chunked });
      assert.equal(res.status, 413, `chunked=${chunked}: ${res.body.slice(0, 200)}`);
    }
    // 7 MiB of JSON whitespace is under the limit: an ordinary answer.
    const under = await postLarge(server, '/v1/chat/completions',
                                  [head, Buffer.alloc(7 * 1024 * 1024, ' '), tail]);
    assert.equal(under.status, 200, under.body.slice(0, 200));
    assert.equal((await fetch(server.url + '/health')).status, 200);
  });

  test('metrics: the contract names, and counters that move', async () => {
    const res = await fetch(server.url + '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    const m0 = await metrics(server);
    for (const name of ['minillm_requests_total', 'minillm_prompt_tokens_total',
      'minillm_generated_tokens_total', 'minillm_queue_depth', 'minillm_busy_slots',
      'minillm_cache_hit_tokens_total', 'minillm_cancelled_total', 'minillm_tokens_per_second']) {
      metricSum(m0, name);
    }
    const byStatus = (m, s) => Object.entries(m)
      .filter(([k]) => k.startsWith('minillm_requests_total{') && k.includes(`status="${s}"`))
      .reduce((sum, [, v]) => sum + v, 0);
    const ok = await post(server, '/v1/chat/completions', longChat(5));
    assert.equal(ok.status, 200);
    await post(server, '/v1/chat/completions', '{');
    const m1 = await metrics(server);
    const d200 = byStatus(m1, 200) - byStatus(m0, 200);
    // The completion, plus up to two GET /metrics whose count lands after their response is sent
    // (cpp-httplib logs a request once it is answered).
    assert.ok(d200 >= 1 && d200 <= 3, `requests_total{status="200"} grew by ${d200}`);
    assert.equal(byStatus(m1, 400) - byStatus(m0, 400), 1, 'one more 400');
    assert.equal(metricSum(m1, 'minillm_generated_tokens_total') -
                 metricSum(m0, 'minillm_generated_tokens_total'), 5);
    assert.equal(metricSum(m1, 'minillm_prompt_tokens_total') -
                 metricSum(m0, 'minillm_prompt_tokens_total'), ok.json.usage.prompt_tokens);
    assert.equal(metricSum(m1, 'minillm_busy_slots'), 0);
    assert.equal(metricSum(m1, 'minillm_queue_depth'), 0);
  });

  test('a corpus of broken and hostile requests: 4xx or a closed connection, never a crash',
       async () => {
    const results = [];
    for (const entry of hostileCorpus()) {
      let outcome;
      if (entry.raw) {
        outcome = await rawExchange(server, entry.raw);
        assert.ok(outcome.connected, `${entry.name}: connection refused`);
        assert.ok(!outcome.timedOut, `${entry.name}: neither answered nor closed within 5 s`);
        if (outcome.status !== null) {
          assert.ok(outcome.status < 500, `${entry.name}: ${outcome.head}`);
        }
      } else {
        const headers = entry.headers ?? {};
        outcome = await post(server, entry.route ?? '/v1/chat/completions', entry.body, headers)
          .catch((err) => ({ status: null, text: String(err) }));
        const allowed = entry.allow ?? [400];
        assert.ok(allowed.includes(outcome.status),
                  `${entry.name}: ${outcome.status} not in ${allowed}: ${outcome.text?.slice(0, 200)}`);
        if (outcome.status === 400) assertError(outcome, 400);
      }
      assert.ok(server.alive(), `the server died on: ${entry.name}\n${server.log()}`);
      results.push(entry.name);
    }
    assert.ok(results.length >= 50, `${results.length} entries`);
    assert.equal((await fetch(server.url + '/health')).status, 200);
  });

  test('RSS is stable over 1,000 requests (growth < 4 MiB after warm-up)', async () => {
    const bodies = [
      chat({ max_tokens: 3 }),
      '{"messages": [',
      { prompt: 'Once upon a time', max_tokens: 3 },
      chat({ max_tokens: 2, stream: true }),
      chat({ temperature: 9 }),
      chat({ max_tokens: 2, logprobs: true, top_logprobs: 5, n: 2 }),
    ];
    const run = async (count) => {
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const body = bodies[i % bodies.length];
          const route = body.prompt ? '/v1/completions' : '/v1/chat/completions';
          const res = await post(server, route, body);
          assert.ok(res.status === 200 || res.status === 400, `${res.status}`);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    };
    await run(200);
    const before = server.rssKiB();
    await run(1000);
    const growth = server.rssKiB() - before;
    assert.ok(growth < 4096, `RSS grew by ${growth} KiB over 1,000 requests (from ${before} KiB)`);
  });
});

describe('api key', () => {
  const key = 'sk-test-0123456789';
  let server;
  before(async () => (server = await startServer({ parallel: 1, ctx: 256, apiKey: key })));
  after(() => stopServer(server, assert));

  test('missing or wrong bearer is 401; the right one passes', async () => {
    const wrong = [null, 'Bearer wrong', `Bearer ${key.slice(0, -1)}`, `Bearer ${key}0`,
                   `Basic ${Buffer.from(key).toString('base64')}`, key, 'Bearer', 'Bearer ',
                   `Bearer  ${key}x`, `Bearer ${key.toUpperCase()}`];
    for (const auth of wrong) {
      const headers = auth === null ? {} : { authorization: auth };
      assertError(await post(server, '/v1/chat/completions', chat(), headers), 401);
      assertError(await post(server, '/v1/completions', { prompt: 'a', max_tokens: 1 }, headers),
                  401);
      const res = await fetch(server.url + '/v1/models', { headers });
      assert.equal(res.status, 401, `GET /v1/models with ${auth}`);
    }
    const good = { authorization: `Bearer ${key}` };
    assert.equal((await post(server, '/v1/chat/completions', chat(), good)).status, 200);
    assert.equal((await fetch(server.url + '/v1/models', { headers: good })).status, 200);
  });

  test('401 comes before body validation', async () => {
    assertError(await post(server, '/v1/chat/completions', '{'), 401);
  });
});

describe('queue full', () => {
  let server;
  before(async () => (server = await startServer({ parallel: 1, maxQueue: 1, ctx: 2048 })));
  after(() => stopServer(server, assert));

  test('503 with Retry-After when the queue is full', async () => {
    // One long stream takes the only slot ...
    const abort = new AbortController();
    const first = await longStream(server, abort.signal);
    assert.equal(first.status, 200);
    const reader = first.body.getReader();
    await reader.read();
    // ... and of four more at most one finds room in the queue.
    const others = await Promise.all([0, 1, 2, 3].map(() =>
      fetch(server.url + '/v1/chat/completions', {
        method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json' },
        body: JSON.stringify(longChat(2000)) })
        .then(async (res) => {
          if (res.status === 200) return { status: 200 };
          const text = await res.text();
          return { status: res.status, retryAfter: res.headers.get('retry-after'), text };
        })
        .catch(() => ({ status: 'aborted' }))));
    const rejected = others.filter((r) => r.status === 503);
    assert.ok(rejected.length >= 3, `503s: ${JSON.stringify(others)}`);
    for (const r of rejected) {
      assert.match(r.retryAfter ?? '', /^\d+$/, 'Retry-After is a number of seconds');
      assertError({ status: 503, json: JSON.parse(r.text), text: r.text }, 503);
    }
    abort.abort();
    await waitFor(async () => metricSum(await metrics(server), 'minillm_busy_slots') === 0, 2000,
                  'busy slots back to 0');
    assert.equal((await post(server, '/v1/chat/completions', chat())).status, 200);
  });
});

describe('disconnects', () => {
  let server;
  before(async () => (server = await startServer({ parallel: 2, ctx: 2048 })));
  after(() => stopServer(server, assert));

  test('a client leaving mid-stream cancels its generation and frees its slot', async () => {
    const m0 = await metrics(server);
    const abort = new AbortController();
    const res = await longStream(server, abort.signal);
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    abort.abort();
    const left = Date.now();
    await waitFor(async () => {
      const m = await metrics(server);
      return metricSum(m, 'minillm_cancelled_total') > metricSum(m0, 'minillm_cancelled_total') &&
             metricSum(m, 'minillm_busy_slots') === 0;
    }, 1000, 'cancelled_total grows and busy_slots is 0 within a second');
    const m1 = await metrics(server);
    const generated = metricSum(m1, 'minillm_generated_tokens_total') -
                      metricSum(m0, 'minillm_generated_tokens_total');
    assert.ok(generated < 2000, `stopped early: ${generated} tokens, ${Date.now() - left} ms`);
  });

});

describe('idle connections', () => {
  let server;
  before(async () => (server = await startServer({ parallel: 1, ctx: 256, timeout: 1 })));
  after(() => stopServer(server, assert));

  test('an idle connection is closed after --timeout 1', async () => {
    for (const bytes of [null, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n']) {
      const ms = await idleConnection(server, bytes, 4000);
      assert.ok(ms !== null, `an idle connection (${JSON.stringify(bytes)}) stayed open 4 s`);
      assert.ok(ms >= 500, `closed by the timeout, not at once (${ms} ms)`);
    }
    assert.equal((await fetch(server.url + '/health')).status, 200);
  });

  test('an idle server uses no CPU (no thread spins)', async () => {
    // utime + stime of the process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
    const ticks = () => {
      const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    };
    await fetch(server.url + '/health');
    const before = ticks();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const used = ticks() - before;
    assert.ok(used <= 2, `${used} ticks (1/100 s) of CPU in 2 s of idling`);
  });
});

describe('bad command lines', () => {
  test('a missing model file: one error line, exit 1, never listening', { skip: isLlamaServer() },
       () => {
    const r = spawnSync(serverBinary(), ['serve', '-m', '/nonexistent/model.gguf', '--port', '0'],
                        { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '', 'nothing on stdout (no "listening on" line)');
    assert.match(r.stderr, /^mini-llm: error: .*nonexistent\/model\.gguf.*\n$/);
  });

  test('a wrong flag value: one error line, exit 1', { skip: isLlamaServer() }, () => {
    const r = spawnSync(serverBinary(), ['serve', '--parallel', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('signals', () => {
  test('SIGTERM during an in-flight stream: exit 0 within 5 s, the stream ends', async () => {
    const server = await startServer({ parallel: 1, ctx: 2048 });
    const res = await longStream(server);
    const reader = res.body.getReader();
    await reader.read();
    const drained = (async () => {
      try {
        while (!(await reader.read()).done) {}
      } catch {}
      return Date.now();
    })();
    const signalled = Date.now();
    await stopServer(server, assert);
    assert.ok((await drained) - signalled < 5000, 'the stream ended');
  });

  test('SIGINT when idle: exit 0', async () => {
    const server = await startServer({});
    const { code, signal } = await server.stop('SIGINT', 5000);
    assert.equal(signal, null);
    assert.equal(code, 0);
  });
});
