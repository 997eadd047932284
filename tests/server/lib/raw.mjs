// Requests below fetch's level: byte-exact HTTP over TCP, and bodies streamed with node:http.

import http from 'node:http';
import net from 'node:net';

// Sends `bytes` on a fresh connection, half-closes it, and resolves with
// {status (first status line's code, or null), closed, connected, ms} once the server answered or closed,
// or with {timedOut: true} after `withinMs`.
export function rawExchange(server, bytes, withinMs = 5000) {
  return new Promise((resolve) => {
    const start = Date.now();
    const socket = net.connect(server.port, server.host);
    let received = '';
    let settled = false;
    let connected = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, connected, ms: Date.now() - start, head: received.slice(0, 200) });
    };
    const timer = setTimeout(() => finish({ timedOut: true, status: null }), withinMs);
    socket.on('error', () => finish({ status: statusOf(received), closed: true }));
    socket.on('close', () => finish({ status: statusOf(received), closed: true }));
    socket.on('data', (d) => {
      received += d.toString('latin1');
      const status = statusOf(received);
      if (status !== null) finish({ status, closed: false });
    });
    socket.on('connect', () => {
      connected = true;
      socket.end(bytes);
    });
  });
}

function statusOf(text) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m && text.includes('\r\n') ? Number(m[1]) : null;
}

// Opens a connection and sends `bytes` (maybe none), then nothing more; resolves with the
// milliseconds until the server closed it, or null if it stayed open for `withinMs`. Rejects
// when the connection is refused.
export function idleConnection(server, bytes, withinMs) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    let connected = false;
    const socket = net.connect(server.port, server.host);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, withinMs);
    socket.on('close', () => {
      clearTimeout(timer);
      if (connected) resolve(Date.now() - start);
    });
    socket.on('error', (err) => {
      if (!connected) reject(new Error(`cannot connect: ${err.message}`));
    });
    socket.on('data', () => {});
    socket.on('connect', () => {
      connected = true;
      if (bytes) socket.write(bytes);
    });
  });
}

// POSTs a large body in 64 KiB pieces (Content-Length, or chunked when `chunked`), stops writing
// once the server has answered, and resolves with {status, headers, body}. Errors after the
// response arrived (the server closing early) are expected and ignored.
export function postLarge(server, route, parts, { chunked = false } = {}) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(total);
    const req = http.request({ host: server.host, port: server.port, path: route, method: 'POST',
                               headers });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.on('data', (d) => (body += d));
      const done = () => {
        req.destroy();
        resolve({ status: res.statusCode, headers: res.headers, body });
      };
      res.on('end', done);
      res.on('error', done);
    });
    req.on('error', (err) => {
      if (!answered) reject(new Error(`no response before the connection failed: ${err.message}`));
    });
    const pieces = [];
    for (const part of parts) {
      for (let i = 0; i < part.length; i += 65536) pieces.push(part.subarray(i, i + 65536));
    }
    const writeNext = () => {
      while (pieces.length && !answered) {
        if (!req.write(pieces.shift())) return req.once('drain', writeNext);
      }
      if (!answered) req.end();
    };
    writeNext();
  });
}
