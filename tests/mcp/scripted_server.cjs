#!/usr/bin/env node
// A small MCP server for the protocol corners the official servers do not reach: tools/list over
// three pages, notifications/tools/list_changed, requests from the server to the client (sampling,
// ping), a chosen protocol version, a forgotten HTTP session (404), JSON (not SSE) responses and a
// GET that is not allowed (405). Speaks stdio by default, Streamable HTTP with --http (127.0.0.1,
// port 0, reported on stderr as "LOOMFLOW_LISTENING <port>").
//   --version V   answer initialize with protocol version V (default: the client's)
'use strict';
const http = require('http');
const crypto = require('crypto');

const args = process.argv.slice(2);
const httpMode = args.includes('--http');
const versionArg = args.includes('--version') ? args[args.indexOf('--version') + 1] : null;

let tools = [1, 2, 3, 4, 5, 6].map((i) => ({
  name: `tool-${i}`,
  description: `Tool number ${i}`,
  inputSchema: { type: 'object', properties: {} },
}));
const received = [];  // every method the client sent, in order
let nextServerId = 1;
const waiting = new Map();  // id of our request to the client -> resolve

function page(cursor) {
  const start = cursor ? Number(cursor.slice(1)) : 0;
  const result = { tools: tools.slice(start, start + 2) };
  if (start + 2 < tools.length) result.nextCursor = `p${start + 2}`;
  return result;
}

// Handles one request; `send` delivers messages to the client on the channel of this request.
async function handle(msg, send) {
  const p = msg.params || {};
  switch (msg.method) {
    case 'initialize':
      return {
        protocolVersion: versionArg || p.protocolVersion,
        capabilities: { tools: { listChanged: true } },
        serverInfo: { name: 'scripted', version: '1.0.0' },
        instructions: 'A scripted test server.',
      };
    case 'ping':
      return {};
    case 'tools/list':
      return page(p.cursor);
    case 'tools/call': {
      const text = (t) => ({ content: [{ type: 'text', text: t }] });
      switch (p.name) {
        case 'ask-client':
        case 'ping-client': {
          const id = `s${nextServerId++}`;
          const method = p.name === 'ask-client' ? 'sampling/createMessage' : 'ping';
          const reply = new Promise((resolve) => waiting.set(id, resolve));
          send({ jsonrpc: '2.0', id, method, params: method === 'ping' ? {} : { messages: [], maxTokens: 10 } });
          return text(JSON.stringify(await reply));
        }
        case 'change-tools':
          tools = tools.concat([{ name: 'added', description: 'Added later', inputSchema: { type: 'object' } }]);
          send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
          return text('changed');
        case 'echo-meta':
          return text(JSON.stringify(p._meta || {}));
        case 'received':
          return text(JSON.stringify(received));
        case 'forget-session':
          sessions.clear();
          return text('forgotten');
        default:
          throw { code: -32602, message: `Unknown tool: ${p.name}` };
      }
    }
    default:
      throw { code: -32601, message: `Method not found: ${msg.method}` };
  }
}

async function answer(msg, send) {
  try {
    send({ jsonrpc: '2.0', id: msg.id, result: await handle(msg, send) });
  } catch (e) {
    send({ jsonrpc: '2.0', id: msg.id, error: { code: e.code || -32603, message: e.message || String(e) } });
  }
}

function accept(msg, send) {
  if (msg.method) received.push(msg.method);
  if (msg.method && msg.id !== undefined) return answer(msg, send);
  if (!msg.method && waiting.has(msg.id)) {  // the client's answer to our request
    const resolve = waiting.get(msg.id);
    waiting.delete(msg.id);
    resolve(msg.error ? { error: msg.error } : { result: msg.result });
  }
  return null;
}

// ---- stdio ----
if (!httpMode) {
  let buffer = '';
  const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
  process.stdin.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) accept(JSON.parse(line), send);
    }
  });
  process.stdin.on('end', () => process.exit(0));
}

// ---- Streamable HTTP ----
const sessions = new Set();
if (httpMode) {
  const server = http.createServer((req, res) => {
    const sid = req.headers['mcp-session-id'];
    if (req.method === 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (req.method === 'DELETE') {
      received.push('DELETE');
      sessions.delete(sid);
      res.writeHead(200).end();
      return;
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const msg = JSON.parse(body);
      if (msg.method === 'initialize') {
        const id = crypto.randomUUID();
        sessions.add(id);
        const result = await handle(msg, () => {});
        received.push('initialize');
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': id });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
        return;
      }
      if (!sessions.has(sid)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      if (req.headers['mcp-protocol-version'] === undefined) received.push('missing MCP-Protocol-Version');
      if (msg.method === undefined || msg.id === undefined) {  // a notification or a response: 202
        accept(msg, () => {});
        res.writeHead(202).end();
        return;
      }
      // A request: an event stream, starting with the priming event (an id, empty data).
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let n = 0;
      res.write(`id: ${sid}-${n++}\ndata: \n\n`);
      const send = (m) => res.write(`event: message\nid: ${sid}-${n++}\ndata: ${JSON.stringify(m)}\n\n`);
      await accept(msg, send);
      res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.stderr.write(`LOOMFLOW_LISTENING ${server.address().port}\n`));
}
