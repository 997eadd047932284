// The chat page (GET /) in a real browser: Debian's chromium driven by playwright-core.
// MINILLM_CHROMIUM overrides the browser path; the screenshot goes to MINILLM_ARTIFACT_DIR.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { artifactDir, startServer, stopServer } from './lib/server.mjs';

let server;
let browser;
let page;
const pageErrors = [];
const foreignRequests = [];
const chatBodies = [];

before(async () => {
  server = await startServer({ parallel: 2, ctx: 1024 });
  browser = await chromium.launch({
    executablePath: process.env.MINILLM_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => msg.type() === 'error' && pageErrors.push(msg.text()));
  page.on('request', (req) => {
    if (!req.url().startsWith(server.url + '/')) foreignRequests.push(req.url());
    if (req.url().endsWith('/v1/chat/completions')) chatBodies.push(JSON.parse(req.postData()));
  });
});
after(async () => {
  await browser?.close();
  await stopServer(server, assert);
});

async function ask(text, answers) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  // The streamed answer appears in the n-th assistant bubble, then the tokens/s line.
  const bubble = page.locator('.msg.assistant').nth(answers - 1);
  await bubble.waitFor({ timeout: 10000 });
  await page.waitForFunction(
    (n) => document.querySelectorAll('.msg.assistant')[n - 1]?.firstChild?.data?.length > 0,
    answers, { timeout: 10000 });
  await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('stats').textContent),
                             null, { timeout: 20000 });
  return bubble;
}

test('GET / streams an answer, shows tokens/s, keeps the conversation', async () => {
  await page.goto(server.url + '/');
  assert.equal(await page.title(), 'mini-llm');

  const first = await ask('Once upon a time', 1);
  const answer = await first.evaluate((el) => el.firstChild.data);
  assert.ok(answer.trim().length > 0, 'the streamed answer has text');
  const stats = await page.textContent('#stats');
  const m = /(\d+) tokens, ([\d.]+) tokens\/s/.exec(stats);
  assert.ok(m, `tokens/s shown: ${stats}`);
  assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0, stats);
  assert.equal(chatBodies.length, 1);
  assert.equal(chatBodies[0].stream, true);

  mkdirSync(artifactDir, { recursive: true });
  const shot = path.join(artifactDir, 'chat-page.png');
  await page.screenshot({ path: shot, fullPage: true });

  // The second turn sends the first question and answer along.
  await ask('What happened next?', 2);
  assert.equal(chatBodies.length, 2);
  assert.deepEqual(chatBodies[1].messages.map((x) => x.role), ['user', 'assistant', 'user']);
  assert.equal(chatBodies[1].messages[1].content, answer);
  await page.screenshot({ path: path.join(artifactDir, 'chat-page-2.png'), fullPage: true });

  assert.deepEqual(foreignRequests, [], 'the page loads nothing from elsewhere');
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

test('the stop button aborts a long answer', async () => {
  await page.goto(server.url + '/');
  await page.click('summary');
  await page.fill('#max-tokens', '900');
  await page.dispatchEvent('#max-tokens', 'change');
  await page.click('summary');
  // Hold the response back until Stop was clicked, so the answer cannot finish first.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route('**/v1/chat/completions', async (route) => {
    await held;
    await route.continue().catch(() => {});
  });
  await page.fill('#input', 'Once upon a time');
  await page.press('#input', 'Enter');
  await page.locator('#stop').waitFor({ state: 'visible' });
  await page.click('#stop');
  release();
  await page.waitForFunction(() => /stopped/.test(document.getElementById('stats').textContent),
                             null, { timeout: 5000 });
  assert.equal(await page.isHidden('#stop'), true);
  assert.equal(await page.isEnabled('#send'), true);
  await page.unroute('**/v1/chat/completions');
  assert.deepEqual(pageErrors, []);
});
