// Broken and hostile requests for errors.test.mjs.

// ≥ 50 requests no server may crash on. `allow`: acceptable statuses (default 400);
// `raw`: bytes over TCP, answered with < 500 or closed.
export function hostileCorpus() {
  const ok = '{"role":"user","content":"hi"}';
  const withField = (field) => `{"messages":[${ok}],${field}}`;
  const gray = [200, 400];
  const nested = (n) => '['.repeat(n) + ']'.repeat(n);
  const garbage = Buffer.alloc(4096);
  for (let i = 0, x = 12345; i < garbage.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    garbage[i] = x >>> 24;
  }
  const e = [];
  const body = (name, b, extra = {}) => e.push({ name, body: b, ...extra });
  body('empty body', '');
  body('only {', '{');
  body('truncated array', '{"messages": [');
  body('truncated object', `{"messages":[${ok}]`);
  body('truncated string', '{"messages":[{"role":"user","content":"hi');
  body('JSON null', 'null');
  body('JSON array', '[]');
  body('JSON string', '"hello"');
  body('JSON number', '42');
  body('trailing comma', `{"messages":[${ok}],}`);
  body('single quotes', "{'messages': []}");
  body('NaN literal', withField('"temperature": NaN'));
  body('Infinity literal', withField('"temperature": Infinity'));
  body('huge exponent', withField('"max_tokens": 1e400'));
  body('huge integer', withField('"max_tokens": 99999999999999999999999999'));
  body('negative max_tokens', withField('"max_tokens": -5'));
  body('fractional n', withField('"n": 1.5'));
  body('huge n', withField('"n": 1000000'));
  body('temperature 1e308', withField('"temperature": 1e308'));
  body('top_p negative', withField('"top_p": -1'));
  body('messages object', '{"messages": {}}');
  body('message without role', '{"messages":[{"content":"hi"}]}');
  body('message without content', '{"messages":[{"role":"user"}]}');
  body('image part', '{"messages":[{"role":"user","content":[{"type":"image_url",' +
       '"image_url":{"url":"http://x/y.png"}}]}]}');
  body('text part without text', '{"messages":[{"role":"user","content":[{"type":"text"}]}]}');
  body('stop array of numbers', withField('"stop": [1, 2]'));
  body('logit_bias string value', withField('"logit_bias": {"5": "x"}'));
  body('logit_bias negative id', withField('"logit_bias": {"-3": 1}'));
  body('top_logprobs negative', withField('"logprobs": true, "top_logprobs": -1'));
  body('model not a string', withField('"model": 42'));
  body('stream_options number', withField('"stream": true, "stream_options": 5'));
  body('unbalanced deep nesting', '{"messages":' + '['.repeat(100000));
  body('deep nesting in messages', `{"messages":${nested(100000)}}`);
  body('deep nesting in an unknown field', withField(`"x": ${nested(100000)}`), { allow: gray });
  body('deep objects in an unknown field',
       withField(`"x": ${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}`), { allow: gray });
  body('invalid UTF-8 in content',
       Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"a'),
                      Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]));
  body('overlong UTF-8 encoding',
       Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'),
                      Buffer.from([0xc0, 0xaf]), Buffer.from('"}]}')]));
  body('lone surrogate escape', '{"messages":[{"role":"user","content":"\\ud800"}]}',
       { allow: gray });
  body('NUL escape in content', '{"messages":[{"role":"user","content":"a\\u0000b"}]}',
       { allow: gray });
  body('raw control byte in a string', '{"messages":[{"role":"user","content":"a\u0001b"}]}');
  body('binary garbage', garbage);
  body('a megabyte of letters', 'a'.repeat(1 << 20));
  body('20k messages (prompt too long)',
       `{"messages":[${Array(20000).fill(ok).join(',')}],"max_tokens":1}`);
  body('10k stop strings', withField(`"stop": ${JSON.stringify(Array(10000).fill('x'))}`),
       { allow: gray });
  body('duplicate keys', withField('"max_tokens": 1, "max_tokens": "x"'), { allow: gray });
  body('response_format json_object', withField('"response_format": {"type": "json_object"}'),
       { allow: gray });
  body('text/plain content type', withField('"max_tokens": 1'),
       { headers: { 'content-type': 'text/plain' }, allow: [200, 400, 415] });
  body('form content type', 'messages=hi',
       { headers: { 'content-type': 'application/x-www-form-urlencoded' }, allow: [400, 415] });
  body('completions: prompt missing', '{"max_tokens": 1}', { route: '/v1/completions' });
  body('completions: prompt object', '{"prompt": {}}', { route: '/v1/completions' });
  body('completions: logprobs 1000', '{"prompt": "a", "logprobs": 1000}',
       { route: '/v1/completions' });
  body('completions: truncated', '{"prompt": "a', { route: '/v1/completions' });
  body('completions: too long', JSON.stringify({ prompt: 'dog '.repeat(5000) }),
       { route: '/v1/completions' });

  const raw = (name, bytes) => e.push({ name, raw: Buffer.from(bytes, 'latin1') });
  e.push({ name: 'raw binary garbage', raw: garbage });
  raw('HTTP/0.9 request line', 'GET /\r\n\r\n');
  raw('no Host header', 'GET /health HTTP/1.1\r\n\r\n');
  raw('unknown method', 'FROB /health HTTP/1.1\r\nHost: x\r\n\r\n');
  raw('100 KB request line', `GET /${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  raw('100 KB header', `GET /health HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(100000)}\r\n\r\n`);
  raw('10k headers', `GET /health HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(10000)}\r\n`);
  raw('negative Content-Length',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}');
  raw('non-numeric Content-Length',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}');
  raw('huge Content-Length',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n');
  raw('Content-Length and chunked',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
  raw('bad chunk size',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  raw('body shorter than Content-Length',
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"messages"');
  raw('NUL in a header', 'GET /health HTTP/1.1\r\nHost: x\0y\r\n\r\n');
  raw('100 pipelined requests', 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(100));
  return e;
}
