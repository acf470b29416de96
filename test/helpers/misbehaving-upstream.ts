/**
 * A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on request: the model name picks
 * the behaviour (split frames, CRLF, comments, multi-line data, early close, a missing or early
 * [DONE], 429 with Retry-After, stalls, 500s, garbage), or is hostile (fields of the wrong type,
 * a 200 KB error message, a model entry that claims to be edgetier's synthetic twin). Tests point the client, or `edgetier serve`'s
 * upstream, at it.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_SSE_EVENT_CHARS } from '../../src/remote/sse.ts';

export const UPSTREAM_KEY = 'sk-test-upstream-key-0123456789';
export const ANSWER = 'Hello, world';
const TOKENS = ['Hel', 'lo', ',', ' world'];

export const UPSTREAM_MODELS = [
  'ok',
  'split',
  'reasoning',
  'json-only',
  'no-done',
  'truncated',
  'early-close',
  'early-done',
  'rate-limit-once',
  'rate-limit-long',
  'busy-once',
  'stall-headers',
  'stall-first',
  'stall-mid',
  'keepalive-stall',
  'http500',
  'garbage',
  'html',
  'mid-error',
  'json-object-content',
  'json-number-content',
  'json-bad-usage',
  'huge-error',
  'rtl-error',
  'huge-error-body',
  'stream-huge-error',
  'stream-object-id',
  'claims-twin',
  'deep-markdown',
  'megabyte',
  'redirect',
  // Each ends a normal answer with `finish_reason` set to what follows "finish-".
  'finish-content_filter',
  'finish-eos_token',
  'finish-max_tokens',
  'finish-tool_calls',
  'finish-made_up',
  'finish-STOP',
  // Each sends `finish_reason` set to what follows "pending-" on every chunk before the last (Ollama
  // and sglang sent "", KoboldCpp the string "null"), then ends with "stop".
  'pending-',
  'pending-null',
  // Ends with finish_reason content_filter, then one more chunk that says stop.
  'filter-then-stop',
] as const;

/** A 1 MiB answer of ordinary Markdown lines, streamed in 4 KiB deltas. */
export const MEGABYTE_ANSWER = Array.from({ length: (1024 * 1024) / 32 }, (_, i) =>
  `${String(i).padStart(6, '0')} **bold** \`code\` text.\n`.padEnd(32, '.'),
).join('');

/** Markdown nested past any sane depth: 1,900 `>`, 1,200 `- `, 2,200 `*` (marked overflows its stack on each). */
export const DEEP_MARKDOWN = `[open settings](#settings)\n\n${'>'.repeat(1900)} quoted\n\n${'- '.repeat(1200)}listed\n\n${'*'.repeat(1100)}starred${'*'.repeat(1100)}`;

/** An error message that tries to reverse the app's advice after it (U+202E, then Hebrew). */
export const RTL_MESSAGE = '\u202Edaolrevo si reviser \u05E9\u05DC\u05D5\u05DD';

/** A 200 KB error message, as a hostile tier sends one. */
export const HUGE_MESSAGE = `Overloaded ${'x'.repeat(200_000)}`;

export interface Upstream {
  url: string;
  /** Requests seen per model. */
  hits: Map<string, number>;
  /** Authorization headers seen. */
  authorizations: string[];
  /** Bodies of the chat requests seen. */
  bodies: Record<string, unknown>[];
  /** Models whose streamed response the client (edgetier serve) closed before it ended. */
  abandoned: string[];
  /** Bytes of the 64 MB error body of `huge-error-body` written before the client hung up. */
  hugeErrorBytesWritten: () => number;
  close(): Promise<void>;
}

function chunk(model: string, delta: Record<string, unknown>, finish: string | null = null, usage?: object) {
  return JSON.stringify({
    id: 'chatcmpl-up',
    object: 'chat.completion.chunk',
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  });
}

const USAGE = { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 };

function normalFrames(model: string, eol = '\n', finish = 'stop', pending: string | null = null): string[] {
  return [
    `data: ${chunk(model, { role: 'assistant', content: '' }, pending)}${eol}${eol}`,
    ...TOKENS.map((t) => `data: ${chunk(model, { content: t }, pending)}${eol}${eol}`),
    `data: ${chunk(model, {}, finish)}${eol}${eol}`,
    `data: ${JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: USAGE })}${eol}${eol}`,
    `data: [DONE]${eol}${eol}`,
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sseHead(res: ServerResponse) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
}

async function writeAll(res: ServerResponse, frames: string[]) {
  for (const frame of frames) {
    if (res.destroyed) return;
    res.write(frame);
    await sleep(2);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

export async function startUpstream(): Promise<Upstream> {
  const hits = new Map<string, number>();
  const authorizations: string[] = [];
  const bodies: Record<string, unknown>[] = [];
  const abandoned: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let hugeErrorBytes = 0;

  const server: Server = createServer(async (req, res) => {
    // CORS, as a hosted provider answers a browser that calls it directly (a tier set in Settings).
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'authorization, content-type',
      });
      res.end();
      return;
    }
    authorizations.push(req.headers.authorization ?? '');
    const authorized = req.headers.authorization === `Bearer ${UPSTREAM_KEY}`;
    if (!authorized) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: 'Incorrect API key provided.',
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        }),
      );
      return;
    }
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: UPSTREAM_MODELS.map((id) => ({
            id,
            object: 'model',
            created: 1700000000,
            owned_by: 'upstream-lab',
            // Only edgetier serve's own models may say this; a tier that does is spoofing.
            ...(id === 'claims-twin'
              ? { edgetier: { synthetic: true, mirrors: 'Org/Spoofed', params: 494000000 } }
              : {}),
          })),
        }),
      );
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { message: `No route ${req.url}`, type: 'invalid_request_error', code: null },
        }),
      );
      return;
    }
    const body = JSON.parse(await readBody(req)) as { model: string; stream?: boolean };
    bodies.push(body);
    const model = body.model;
    res.on('close', () => {
      if (!res.writableEnded) abandoned.push(model);
    });
    const n = (hits.get(model) ?? 0) + 1;
    hits.set(model, n);

    if (model.startsWith('finish-')) {
      sseHead(res);
      await writeAll(res, normalFrames(model, '\n', model.slice('finish-'.length)));
      res.end();
      return;
    }
    if (model === 'filter-then-stop') {
      sseHead(res);
      const frames = normalFrames(model, '\n', 'content_filter');
      frames.splice(-2, 0, `data: ${chunk(model, {}, 'stop')}\n\n`);
      await writeAll(res, frames);
      res.end();
      return;
    }
    if (model.startsWith('pending-')) {
      sseHead(res);
      await writeAll(res, normalFrames(model, '\n', 'stop', model.slice('pending-'.length)));
      res.end();
      return;
    }
    switch (model) {
      case 'ok':
        sseHead(res);
        await writeAll(res, normalFrames(model));
        res.end();
        return;
      case 'split': {
        // CRLF line ends, comments, a multi-line data field, every frame cut into 3-byte writes
        // (so CR and LF, and UTF-8 sequences, land in different chunks).
        const frames = normalFrames(model, '\r\n');
        const first = `: keep-alive\r\n\r\ndata: ${chunk(model, { role: 'assistant' })}\r\n\r\n`;
        const multi = `data: {"id":"chatcmpl-up","object":"chat.completion.chunk",\r\ndata: "created":1,"model":"split","choices":[{"index":0,"delta":{"content":" ✓"},"finish_reason":null}]}\r\n\r\n`;
        const text = [first, ...frames.slice(1, 5), ': ping\r\n', multi, ...frames.slice(5)].join('');
        const bytes = Buffer.from(text, 'utf8');
        sseHead(res);
        for (let i = 0; i < bytes.length; i += 3) {
          res.write(bytes.subarray(i, i + 3));
          if (i % 60 === 0) await sleep(1);
        }
        res.end();
        return;
      }
      case 'reasoning':
        sseHead(res);
        await writeAll(res, [
          `data: ${chunk(model, { role: 'assistant', reasoning_content: 'Let me ' })}\n\n`,
          `data: ${chunk(model, { reasoning: 'think.' })}\n\n`,
          `data: ${chunk(model, { content: 'Answer.' })}\n\n`,
          `data: ${chunk(model, {}, 'stop')}\n\n`,
          'data: [DONE]\n\n',
        ]);
        res.end();
        return;
      case 'json-only':
        // Ignores stream: true and answers in one piece.
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-json',
            object: 'chat.completion',
            created: 1,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: ANSWER }, finish_reason: 'stop' }],
            usage: USAGE,
          }),
        );
        return;
      case 'endless-line': {
        // One data line that never ends, in small writes, past the parser's event limit.
        sseHead(res);
        await writeAll(res, normalFrames(model).slice(0, 2));
        const piece = 'x'.repeat(64 * 1024);
        res.write('data: {"choices":[{"delta":{"content":"');
        for (
          let sent = 0;
          sent <= MAX_SSE_EVENT_CHARS + piece.length && !res.destroyed;
          sent += piece.length
        ) {
          if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
        }
        res.end();
        return;
      }
      case 'no-done':
        sseHead(res);
        await writeAll(res, normalFrames(model).slice(0, -1));
        res.end();
        return;
      case 'truncated':
        // A clean end, but neither a finish_reason nor [DONE].
        sseHead(res);
        await writeAll(res, normalFrames(model).slice(0, 3));
        res.end();
        return;
      case 'early-close':
        sseHead(res);
        await writeAll(res, normalFrames(model).slice(0, 3));
        await sleep(10);
        res.socket?.destroy();
        return;
      case 'early-done':
        sseHead(res);
        await writeAll(res, [
          ...normalFrames(model).slice(0, 3),
          'data: [DONE]\n\n',
          'data: not json at all\n\n',
        ]);
        res.end();
        return;
      case 'rate-limit-once':
      case 'busy-once':
        if (n % 2 === 1) {
          res.writeHead(model === 'busy-once' ? 503 : 429, {
            'Content-Type': 'application/json',
            'Retry-After': '1',
          });
          res.end(JSON.stringify({ error: { message: 'Slow down.', type: 'rate_limit_error', code: null } }));
          return;
        }
        sseHead(res);
        await writeAll(res, normalFrames(model));
        res.end();
        return;
      case 'rate-limit-long':
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '3600' });
        res.end(
          JSON.stringify({ error: { message: 'Quota exceeded.', type: 'rate_limit_error', code: 'quota' } }),
        );
        return;
      case 'stall-headers':
        // Never answers; the socket stays open until the client gives up.
        return;
      case 'stall-first':
        sseHead(res);
        res.write(': queued\n\n');
        return;
      case 'stall-mid':
        sseHead(res);
        await writeAll(res, normalFrames(model).slice(0, 3));
        return;
      case 'keepalive-stall':
        // Two tokens, then only keep-alive comments: stalled, even though bytes keep coming.
        sseHead(res);
        await writeAll(res, normalFrames(model).slice(0, 3));
        for (let i = 0; i < 100 && !res.destroyed; i++) {
          res.write(': keep-alive\n\n');
          await sleep(50);
        }
        res.end();
        return;
      case 'http500':
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({ error: { message: 'The engine crashed.', type: 'server_error', code: null } }),
        );
        return;
      case 'garbage':
        sseHead(res);
        res.end('data: <html><body>Bad gateway</body></html>\n\n');
        return;
      case 'html':
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<html><body>Welcome to nginx!</body></html>');
        return;
      case 'huge-error-body': {
        // A 500 whose body is 64 MB: a client must read a bounded part of it, then hang up.
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        const piece = Buffer.alloc(64 * 1024, 'x');
        hugeErrorBytes = 0;
        while (!res.destroyed && hugeErrorBytes < 64 * 1024 * 1024) {
          hugeErrorBytes += piece.length;
          if (!res.write(piece)) {
            await new Promise<void>((resolve) => {
              res.once('drain', resolve);
              res.once('close', resolve);
            });
          }
        }
        res.end();
        return;
      }
      case 'mid-overflow':
        sseHead(res);
        await writeAll(res, [
          ...normalFrames(model).slice(0, 3),
          `data: ${JSON.stringify({ error: { message: 'The last message alone needs 900 tokens but only 500 fit.', type: 'invalid_request_error', param: null, code: 'context_overflow' } })}\n\n`,
        ]);
        res.end();
        return;
      case 'mid-error':
        sseHead(res);
        await writeAll(res, [
          ...normalFrames(model).slice(0, 3),
          `data: ${JSON.stringify({ error: { message: 'CUDA out of memory', type: 'server_error', code: null } })}\n\n`,
        ]);
        res.end();
        return;
      case 'json-object-content':
      case 'json-number-content':
      case 'json-bad-usage': {
        const content =
          model === 'json-object-content' ? { text: ANSWER } : model === 'json-number-content' ? 42 : ANSWER;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-json',
            object: 'chat.completion',
            created: 1,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
            usage: model === 'json-bad-usage' ? { ...USAGE, prompt_tokens: '7' } : USAGE,
          }),
        );
        return;
      }
      case 'huge-error':
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: HUGE_MESSAGE, type: 'server_error', code: null } }));
        return;
      case 'rtl-error':
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: RTL_MESSAGE, type: 'server_error', code: null } }));
        return;
      case 'stream-huge-error':
        sseHead(res);
        await writeAll(res, [
          ...normalFrames(model).slice(0, 3),
          `data: ${JSON.stringify({ error: { message: HUGE_MESSAGE, type: 'server_error', code: null } })}\n\n`,
        ]);
        res.end();
        return;
      case 'stream-object-id':
        sseHead(res);
        await writeAll(res, [
          `data: ${JSON.stringify({ id: { evil: true }, choices: [{ index: 0, delta: { content: 'x' } }] })}\n\n`,
        ]);
        res.end();
        return;
      case 'deep-markdown':
        sseHead(res);
        await writeAll(res, [
          ...(DEEP_MARKDOWN.match(/[\s\S]{1,1000}/g) ?? []).map(
            (piece) => `data: ${chunk(model, { content: piece })}\n\n`,
          ),
          `data: ${chunk(model, {}, 'stop')}\n\n`,
          'data: [DONE]\n\n',
        ]);
        res.end();
        return;
      case 'megabyte':
        sseHead(res);
        await writeAll(res, [
          ...(MEGABYTE_ANSWER.match(/[\s\S]{1,4096}/g) ?? []).map(
            (piece) => `data: ${chunk(model, { content: piece })}\n\n`,
          ),
          `data: ${chunk(model, {}, 'stop')}\n\n`,
          'data: [DONE]\n\n',
        ]);
        res.end();
        return;
      case 'endless-reasoning': {
        // Thinking that never ends: 1 MiB reasoning deltas, past the answer limit, then one word.
        sseHead(res);
        const mebibyte = 'thinking '.repeat((1024 * 1024) / 9 + 1).slice(0, 1024 * 1024);
        await writeAll(res, [
          ...Array.from({ length: 9 }, () => `data: ${chunk(model, { reasoning_content: mebibyte })}\n\n`),
          `data: ${chunk(model, { content: 'Answer.' })}\n\n`,
          `data: ${chunk(model, {}, 'stop')}\n\n`,
          'data: [DONE]\n\n',
        ]);
        res.end();
        return;
      }
      case 'redirect':
        // A tier that sends the prompt on to another host.
        res.writeHead(307, { Location: 'http://127.0.0.2:9/v1/chat/completions' });
        res.end();
        return;
      case 'claims-twin':
        sseHead(res);
        await writeAll(res, normalFrames(model));
        res.end();
        return;
      default:
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            error: {
              message: `The model \`${model}\` does not exist.`,
              type: 'invalid_request_error',
              code: 'model_not_found',
            },
          }),
        );
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    hits,
    authorizations,
    bodies,
    abandoned,
    hugeErrorBytesWritten: () => hugeErrorBytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
