/**
 * `edgetier serve` as a real process: static files and model folders, the tier endpoint forwarding
 * to a real misbehaving upstream (with short time limits so every stall ends within about a
 * second), the official `openai` client, and the native tier on a tiny synthetic model under 20
 * concurrent streams.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { synthPreset } from '../../src/builder/synth.ts';
import {
  ANSWER,
  startUpstream,
  UPSTREAM_KEY,
  UPSTREAM_MODELS,
  type Upstream,
} from '../helpers/misbehaving-upstream.ts';
import { postChat, type ServeProcess, startServe } from '../helpers/serve-process.ts';

const SECRET_PROMPT = 'my-private-prompt-6b1f';
const ask = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: SECRET_PROMPT }],
  ...extra,
});

/** A GET with the path sent exactly as given, and any Host header. */
function rawGet(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `text` as it is on a fresh connection and returns everything the server answers until it closes. */
function rawExchange(base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      answer += c;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

function makeFixtures(root: string) {
  const app = join(root, 'app');
  mkdirSync(join(app, 'assets'), { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>edgetier test app</title>');
  writeFileSync(join(app, 'assets', 'main-abc123.js'), 'console.log(1);');
  writeFileSync(join(app, 'ort.wasm'), randomBytes(1000));
  writeFileSync(join(app, 'worker.mjs'), 'export {};');
  const modelsA = join(root, 'models-a');
  const modelsB = join(root, 'models-b');
  const config = (mirrors: string) =>
    JSON.stringify({
      model_type: 'llama',
      edgetier: { synthetic: true, mirrors, seed: 0, preset: 'x', tokenizer: 't' },
    });
  for (const [dir, name, mirrors] of [
    [modelsA, 'fake-model', 'Org/First'],
    [modelsB, 'fake-model', 'Org/Shadowed'],
    [modelsB, 'other-model', 'Org/Other'],
    [modelsA, '.half-built', 'Org/Temp'],
  ] as const) {
    mkdirSync(join(dir, name, 'onnx'), { recursive: true });
    writeFileSync(join(dir, name, 'config.json'), config(mirrors));
  }
  writeFileSync(join(modelsA, 'fake-model', 'onnx', 'model.onnx'), randomBytes(10_000));
  writeFileSync(join(modelsA, 'fake-model', 'onnx', 'model_quantized.onnx'), randomBytes(4_000));
  writeFileSync(join(modelsA, 'fake-model', 'onnx', 'model_quantized.onnx_data'), randomBytes(2_000));
  // What a hostile model folder may hold beside its model files.
  const script = '<script>fetch("/steal?" + localStorage.length)</script>';
  writeFileSync(join(modelsB, 'other-model', 'card.html'), `<!doctype html>${script}`);
  writeFileSync(
    join(modelsB, 'other-model', 'logo.svg'),
    `<svg xmlns="http://www.w3.org/2000/svg">${script}</svg>`,
  );
  writeFileSync(join(modelsB, 'other-model', 'x.js'), 'fetch("/steal")');
  writeFileSync(join(modelsB, 'other-model', 'notes.txt'), `<!doctype html>${script}`);
  // Links a cloned repository may carry: out of the folder (a private file), and within it.
  writeFileSync(join(root, 'private.txt'), 'PRIVATE-OUTSIDE-THE-MODELS');
  symlinkSync(join(root, 'private.txt'), join(modelsB, 'other-model', 'vocab.txt'));
  symlinkSync('../private.txt', join(modelsB, 'other-model', 'merges.txt'));
  symlinkSync('config.json', join(modelsB, 'other-model', 'generation_config.json'));
  return { app, modelsA, modelsB };
}

describe('edgetier serve with an upstream', () => {
  let root: string;
  let upstream: Upstream;
  let serve: ServeProcess;
  let base: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'edgetier-serve-'));
    const { app, modelsA, modelsB } = makeFixtures(root);
    upstream = await startUpstream();
    serve = await startServe(
      [
        '--app',
        app,
        '--models',
        modelsA,
        '--models',
        modelsB,
        '--connect-timeout',
        '0.5',
        '--first-token-timeout',
        '0.7',
        '--idle-timeout',
        '0.4',
        '--max-body',
        '20000',
        // A native tier beside the upstream, whose weights are garbage: it must fail cleanly.
        '--tier',
        'fake-model',
      ],
      { EDGETIER_UPSTREAM_URL: upstream.url, EDGETIER_UPSTREAM_KEY: UPSTREAM_KEY },
    );
    base = serve.url;
  });

  afterAll(async () => {
    const code = await serve?.stop();
    await upstream?.close();
    rmSync(root, { recursive: true, force: true });
    expect(code).toBe(0);
    expect(serve.output()).toContain('edgetier serve: stopped.');
  });

  describe('static files and model folders', () => {
    it('serves the app cross-origin isolated, with exact MIME types', async () => {
      const page = await fetch(base);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('edgetier test app');
      expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(page.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect((await fetch(`${base}ort.wasm`)).headers.get('content-type')).toBe('application/wasm');
      expect((await fetch(`${base}worker.mjs`)).headers.get('content-type')).toBe(
        'text/javascript; charset=utf-8',
      );
      const asset = await fetch(`${base}assets/main-abc123.js`);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      // An app route gets the page; a missing file is a 404.
      expect(await (await fetch(`${base}chat/42`)).text()).toContain('edgetier test app');
      expect((await fetch(`${base}missing.js`)).status).toBe(404);
    });

    it("answers the page's request for a static build's config with 204 (no config here), not a 404", async () => {
      const config = await fetch(`${base}edgetier.config.json`);
      expect(config.status).toBe(204);
      expect(await config.text()).toBe('');
      // Other missing JSON is still a 404.
      expect((await fetch(`${base}other.config.json`)).status).toBe(404);
    });

    it('answers If-None-Match with 304 and byte ranges with 206 / 416', async () => {
      const first = await fetch(`${base}ort.wasm`);
      const body = new Uint8Array(await first.arrayBuffer());
      const etag = first.headers.get('etag')!;
      expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
      expect((await fetch(`${base}ort.wasm`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
      const part = await fetch(`${base}ort.wasm`, { headers: { Range: 'bytes=10-19' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe('bytes 10-19/1000');
      expect(new Uint8Array(await part.arrayBuffer())).toEqual(body.subarray(10, 20));
      const tail = await fetch(`${base}ort.wasm`, { headers: { Range: 'bytes=-5' } });
      expect(new Uint8Array(await tail.arrayBuffer())).toEqual(body.subarray(995));
      const outside = await fetch(`${base}ort.wasm`, { headers: { Range: 'bytes=1000-' } });
      expect(outside.status).toBe(416);
      expect(outside.headers.get('content-range')).toBe('bytes */1000');
    });

    it('refuses paths that leave the served folders', async () => {
      // Raw paths, as a hostile client sends them (fetch would normalise the dots away).
      for (const path of [
        '/../../etc/passwd',
        '/..%2f..%2fetc%2fpasswd',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/models/fake-model/..%2f..%2fapp%2findex.html',
        '/..%5c..%5cetc%5cpasswd',
        '/models/fake-model/%00config.json',
      ]) {
        const reply = await rawGet(base, path);
        expect(reply.body, path).not.toContain('root:');
        expect(reply.body, path).not.toContain('edgetier test app');
        expect(reply.status, path).toBe(404);
      }
      expect((await fetch(`${base}%E0%A4%A`)).status).toBe(400);
    });

    it('lists every model folder with provenance, dtypes and sizes; the first --models dir wins', async () => {
      const index = (await (await fetch(`${base}models/index.json`)).json()) as {
        models: Record<string, unknown>[];
      };
      expect(index.models.map((m) => m.name)).toEqual(['fake-model', 'other-model']);
      expect(index.models[0]).toMatchObject({
        name: 'fake-model',
        url: '/models/fake-model/',
        synthetic: true,
        mirrors: 'Org/First',
        dtypes: { fp32: 10_000, q8: 6_000 },
        totalBytes: 16_000 + (index.models[0]!.files as { bytes: number }[])[0]!.bytes,
      });
      // Every file with its size and SHA-256, for the browser's cache to check its copy against.
      for (const file of index.models[0]!.files as { path: string; bytes: number; sha256: string }[]) {
        expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
      const onnx = await fetch(`${base}models/fake-model/onnx/model.onnx`, {
        headers: { Range: 'bytes=0-99' },
      });
      expect(onnx.status).toBe(206);
      expect(onnx.headers.get('content-type')).toBe('application/octet-stream');
      // The browser engine keeps its own checked copy: Chromium's HTTP cache must not keep a second one.
      expect(onnx.headers.get('cache-control')).toBe('no-store');
      expect((await fetch(`${base}models/.half-built/config.json`)).status).toBe(404);
    });

    it('serves a model folder as inert data: model file types only, sandboxed, binaries as downloads', async () => {
      for (const name of ['card.html', 'logo.svg', 'x.js', 'CARD.HTML', 'card%2Ehtml']) {
        const reply = await fetch(`${base}models/other-model/${name}`);
        expect(reply.status, name).toBe(404);
        expect(await reply.text(), name).not.toContain('<script>');
      }
      // A link that leaves its folder is not followed (the folder could name any file of the machine).
      for (const name of ['vocab.txt', 'merges.txt']) {
        const reply = await fetch(`${base}models/other-model/${name}`, { headers: { Range: 'bytes=0-' } });
        expect(reply.status, name).toBe(404);
        expect(await reply.text(), name).not.toContain('PRIVATE');
      }
      const inside = await fetch(`${base}models/other-model/generation_config.json`);
      expect(inside.status).toBe(200);
      expect(await inside.json()).toMatchObject({ model_type: 'llama' });
      const expected = {
        'other-model/config.json': 'application/json; charset=utf-8',
        'other-model/notes.txt': 'text/plain; charset=utf-8',
        'fake-model/onnx/model.onnx': 'application/octet-stream',
        'fake-model/onnx/model_quantized.onnx_data': 'application/octet-stream',
      };
      for (const [name, type] of Object.entries(expected)) {
        const reply = await fetch(`${base}models/${name}`);
        expect(reply.status, name).toBe(200);
        expect(reply.headers.get('content-type'), name).toBe(type);
        expect(reply.headers.get('x-content-type-options'), name).toBe('nosniff');
        expect(reply.headers.get('content-security-policy'), name).toBe("sandbox; default-src 'none'");
        expect(reply.headers.get('content-disposition'), name).toBe(
          type === 'application/octet-stream' ? 'attachment' : null,
        );
      }
    });

    it("sends the app's pages with a strict Content-Security-Policy", async () => {
      const csp = (await fetch(base)).headers.get('content-security-policy') ?? '';
      const directives = new Map(
        csp.split(';').map((d) => {
          const [name, ...sources] = d.trim().split(/\s+/);
          return [name, sources] as const;
        }),
      );
      expect(directives.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
      expect(directives.get('object-src')).toEqual(["'none'"]);
      expect(directives.get('base-uri')).toEqual(["'none'"]);
      expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
      expect(directives.get('connect-src')).toEqual([
        "'self'",
        'https:',
        'http://127.0.0.1:*',
        'http://localhost:*',
      ]);
    });
  });

  describe('the tier endpoint', () => {
    it('lists the upstream models as the upstream reports them, and never shows the key', async () => {
      // The server asks the upstream under the 0.5 s connect limit above: on a busy machine that first
      // call can time out (the list then holds the native tier alone), so ask until it answers.
      let text = '';
      await expect
        .poll(
          async () => {
            text = await (await fetch(`${base}v1/models`)).text();
            return (JSON.parse(text) as { data: { id: string }[] }).data.map((m) => m.id);
          },
          { timeout: 20_000, interval: 500 },
        )
        .toEqual(['fake-model', ...UPSTREAM_MODELS]);
      const list = JSON.parse(text) as { data: { id: string; owned_by: string }[] };
      expect(list.data[1]).toEqual({
        id: 'ok',
        object: 'model',
        created: 1700000000,
        owned_by: 'upstream-lab',
      });
      expect(text).not.toContain(UPSTREAM_KEY);
      // An upstream cannot pass itself off as this server's synthetic twin.
      expect(list.data.find((m) => m.id === 'claims-twin')).toEqual({
        id: 'claims-twin',
        object: 'model',
        created: 1700000000,
        owned_by: 'upstream-lab',
      });
    });

    it("passes an upstream's content_filter on, and never turns a cut answer into stop", async () => {
      const reply = await postChat(base, ask('finish-content_filter', { stream: true }));
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(ANSWER);
      const finishes = reply.events
        .filter((e) => e !== '[DONE]')
        .map(
          (e) => (JSON.parse(e) as { choices: { finish_reason: string | null }[] }).choices[0]?.finish_reason,
        )
        .filter((f) => f);
      expect(finishes).toEqual(['content_filter']);
    });

    it('forwards a stream with the key added server-side, in OpenAI wire format with usage', async () => {
      const reply = await postChat(
        base,
        ask('ok', { stream: true, stream_options: { include_usage: true } }),
        {
          headers: { 'Content-Type': 'application/json', Authorization: 'Bearer browser-has-no-key' },
        },
      );
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(ANSWER);
      expect(reply.events.at(-1)).toBe('[DONE]');
      const usage = JSON.parse(reply.events.at(-2)!);
      expect(usage).toMatchObject({
        choices: [],
        usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
      });
      expect(upstream.authorizations.at(-1)).toBe(`Bearer ${UPSTREAM_KEY}`);
    });

    it('streams to the official openai client unmodified, and answers it without streaming too', async () => {
      const client = new OpenAI({ baseURL: `${base}v1`, apiKey: 'not-needed', maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: 'split',
        messages: [{ role: 'user', content: SECRET_PROMPT }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: unknown;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe(`${ANSWER} ✓`);
      expect(usage).toEqual({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 });
      const whole = await client.chat.completions.create({
        model: 'ok',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(whole.choices[0]?.message.content).toBe(ANSWER);
      expect(whole.choices[0]?.finish_reason).toBe('stop');
    });

    it('forwards frequency_penalty, presence_penalty and seed to the upstream as they are', async () => {
      const reply = await postChat(
        base,
        ask('ok', { frequency_penalty: 0.5, presence_penalty: -1, seed: 42 }),
      );
      expect(reply.status).toBe(200);
      expect(upstream.bodies.at(-1)).toMatchObject({
        frequency_penalty: 0.5,
        presence_penalty: -1,
        seed: 42,
      });
    });

    it('passes an upstream error after the first token as a final SSE error event after the partial deltas', async () => {
      for (const model of ['early-close', 'stall-mid', 'mid-error', 'truncated']) {
        const started = Date.now();
        const reply = await postChat(base, ask(model, { stream: true }));
        expect(reply.status, model).toBe(200);
        expect(reply.text, model).toBe('Hello');
        const last = JSON.parse(reply.events.at(-1)!) as { error: { message: string; type: string } };
        expect(last.error.type, model).toMatch(/^(upstream_error|timeout_error)$/);
        expect(last.error.message, model).toMatch(/^Upstream: .*The partial answer is kept/);
        expect(reply.events).not.toContain('[DONE]');
        expect(Date.now() - started, model).toBeLessThan(2000);
      }
    });

    it('the openai client sees such a mid-stream failure as an error, after the partial text', async () => {
      const client = new OpenAI({ baseURL: `${base}v1`, apiKey: 'x', maxRetries: 0 });
      let text = '';
      await expect(
        (async () => {
          const stream = await client.chat.completions.create({
            model: 'early-close',
            messages: [{ role: 'user', content: 'x' }],
            stream: true,
          });
          for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        })(),
      ).rejects.toThrow(/Upstream: The stream from POST .* broke after 5 characters/);
      expect(text).toBe('Hello');
    });

    it('passes an upstream error before the first token as an HTTP error in OpenAI shape', async () => {
      const cases: [string, number, string, RegExp][] = [
        [
          'rate-limit-long',
          429,
          'rate_limit_error',
          /^Upstream: POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions answered 429 Too Many Requests: Quota exceeded\. It asked to retry after 3600 s\./,
        ],
        ['http500', 502, 'upstream_error', /answered 500 Internal Server Error: The engine crashed\./],
        [
          'garbage',
          502,
          'upstream_error',
          /sent an event that is not JSON \("<html><body>Bad gateway<\/body><\/html>"\)/,
        ],
        ['html', 502, 'upstream_error', /answered with an empty stream/],
        ['stall-headers', 504, 'timeout_error', /sent no response within 500 ms/],
        ['stall-first', 504, 'timeout_error', /sent no token within 700 ms/],
        [
          'no-such-model',
          404,
          'not_found_error',
          /answered 404 Not Found: The model `no-such-model` does not exist\./,
        ],
      ];
      for (const [model, status, type, message] of cases) {
        for (const stream of [true, false]) {
          const started = Date.now();
          const reply = await postChat(base, ask(model, { stream }));
          expect(reply.status, `${model} stream=${stream}`).toBe(status);
          expect(reply.json?.error?.type, model).toBe(type);
          expect(reply.json?.error?.message, model).toMatch(message);
          expect(reply.json?.error?.message).not.toContain(UPSTREAM_KEY);
          expect(Date.now() - started, model).toBeLessThan(2000);
          if (model === 'rate-limit-long') expect(reply.headers.get('retry-after')).toBe('3600');
        }
      }
    });

    it('retries an upstream 429 with Retry-After before the first token, and the answer arrives', async () => {
      const reply = await postChat(base, ask('rate-limit-once', { stream: true }));
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(ANSWER);
    });

    it('closes the upstream connection as soon as the client disconnects', async () => {
      const controller = new AbortController();
      const response = await fetch(`${base}v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(ask('keepalive-stall', { stream: true })),
        signal: controller.signal,
      });
      await response.body!.getReader().read();
      expect(upstream.abandoned).not.toContain('keepalive-stall');
      controller.abort();
      // The upstream sends keep-alives for 5 s; well before that, the server must have dropped it.
      for (let i = 0; i < 40 && !upstream.abandoned.includes('keepalive-stall'); i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(upstream.abandoned).toContain('keepalive-stall');
    });

    it('routes the native model to the native tier, which answers 503 with the reason its load failed', async () => {
      for (let i = 0; i < 100; i++) {
        const health = (await (await fetch(`${base}healthz`)).json()) as { native: string };
        if (health.native !== 'loading') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const list = (await (await fetch(`${base}v1/models`)).json()) as { data: Record<string, unknown>[] };
      expect(list.data[0]).toMatchObject({
        id: 'fake-model',
        owned_by: 'edgetier',
        edgetier: { tier: 'native', state: 'failed', synthetic: true, mirrors: 'Org/First' },
      });
      const reply = await postChat(base, ask('fake-model', { stream: true }));
      expect(reply.status).toBe(503);
      expect(reply.json?.error?.code).toBe('load_failed');
      expect(reply.json?.error?.message).toMatch(/^The native tier could not load .*fake-model \(q8\): /);
      expect(upstream.bodies.some((b) => b.model === 'fake-model')).toBe(false);
    });

    it('validates requests: 400s in OpenAI shape, 413 past the body limit, 415 for non-JSON, 405', async () => {
      const bad: [unknown, string, string][] = [
        [
          { messages: [{ role: 'user', content: 'x' }] },
          'model',
          "'model' is required: a model id from GET /v1/models.",
        ],
        [
          { model: 'ok', messages: [] },
          'messages',
          "'messages' is required: a non-empty array of {role, content}.",
        ],
        [
          { model: 'ok', messages: [{ role: 'tool', content: 'x' }] },
          'messages[0].role',
          'messages[0].role must be one of system, developer, user, assistant; got "tool" (tools are not supported).',
        ],
        [
          { model: 'ok', messages: [{ role: 'user', content: 'x' }], temperature: 3 },
          'temperature',
          "'temperature' must be a number from 0 to 2, got 3.",
        ],
        [
          { model: 'ok', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 },
          'max_tokens',
          "'max_tokens' must be a positive integer, got 0.",
        ],
        [
          { model: 'ok', messages: [{ role: 'user', content: 'x' }], n: 2 },
          'n',
          "'n' must be 1: one answer per request.",
        ],
        [[1, 2], null as unknown as string, 'The request body must be a JSON object.'],
      ];
      for (const [body, param, message] of bad) {
        const reply = await postChat(base, body);
        expect(reply.status).toBe(400);
        expect(reply.json).toEqual({
          error: { message, type: 'invalid_request_error', param, code: reply.json?.error?.code },
        });
      }
      const notJson = await fetch(`${base}v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"model": ',
      });
      expect(notJson.status).toBe(400);
      expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
      const big = await postChat(base, ask('ok', { padding: 'x'.repeat(30_000) }));
      expect(big.status).toBe(413);
      expect(big.json?.error?.message).toBe(
        'The request body is larger than 20000 bytes, the limit of this server (--max-body).',
      );
      const text = await fetch(`${base}v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: JSON.stringify(ask('ok')),
      });
      expect(text.status).toBe(415);
      expect((await fetch(`${base}v1/chat/completions`)).status).toBe(405);
      const rebinding = await rawGet(base, '/v1/models', { Host: 'attacker.example' });
      expect(rebinding.status).toBe(421);
    });

    it('answers only to real loopback Host names: look-alike names get 421 (DNS rebinding)', async () => {
      const port = new URL(base).port;
      for (const host of [
        '127.attacker.example',
        `127.attacker.example:${port}`,
        '127.0.0.1.nip.io',
        `127.0.0.1.nip.io:${port}`,
        'localhost.evil',
        'evil.localhost',
        '127.0.0.256',
        '127.0.0',
        '127.0.0.1.2',
        '[::1].evil',
      ]) {
        const reply = await rawGet(base, '/v1/models', { Host: host });
        expect(reply.status, host).toBe(421);
        expect(JSON.parse(reply.body).error.code, host).toBe('misdirected_request');
      }
      // The authority of an absolute-form target replaces Host (RFC 9112 3.2.2), and a request with
      // two Host headers is refused (400), whatever its first one says.
      for (const target of [
        'http://attacker.example/v1/models',
        `http://127.0.0.1.nip.io:${port}/v1/models`,
      ]) {
        const reply = await rawGet(base, target, { Host: `127.0.0.1:${port}` });
        expect(reply.status, target).toBe(421);
        expect(JSON.parse(reply.body).error.code, target).toBe('misdirected_request');
      }
      expect((await rawGet(base, `http://localhost:${port}/v1/models`, { Host: 'localhost' })).status).toBe(
        200,
      );
      // An origin-form path that starts with // is a path, not an authority followed by one.
      // (here an app route, so the app's page), never the model list.
      const doubleSlash = await rawGet(base, '//attacker.example/v1/models', { Host: 'localhost' });
      expect(doubleSlash.body).not.toContain('"object":"list"');
      expect(doubleSlash.body).toMatch(/^<!doctype html>/i);
      for (const hosts of [
        [`127.0.0.1:${port}`, 'attacker.example'],
        ['attacker.example', `127.0.0.1:${port}`],
      ]) {
        const head = `GET /v1/models HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}Connection: close\r\n\r\n`;
        const reply = await rawExchange(base, head);
        expect(reply.split('\r\n')[0], hosts.join(' + ')).toBe('HTTP/1.1 400 Bad Request');
        // The body (chunked): the one JSON object in it.
        expect(JSON.parse(reply.slice(reply.indexOf('{'), reply.lastIndexOf('}') + 1)).error).toMatchObject({
          code: 'duplicate_host',
          message: 'The request has 2 Host headers; send one.',
        });
      }
      for (const host of [
        '127.0.0.1',
        `127.0.0.1:${port}`,
        '127.1.2.3',
        'localhost',
        `LOCALHOST:${port}`,
        '[::1]',
        `[::1]:${port}`,
      ]) {
        expect((await rawGet(base, '/v1/models', { Host: host })).status, host).toBe(200);
      }
    });

    it('logs requests without the key or the prompt', () => {
      const log = serve.output();
      expect(log).toMatch(/POST \/v1\/chat\/completions 200 \d+ms model=ok stream deltas=4/);
      expect(log).toContain(`tier: upstream ${upstream.url} (API key set, kept on the server)`);
      expect(log).not.toContain(UPSTREAM_KEY);
      expect(log).not.toContain(SECRET_PROMPT);
    });
  });
});

describe('edgetier serve bound to every interface', () => {
  it('still refuses rebinding names; answers loopback names and the --allowed-host names', async () => {
    const root = mkdtempSync(join(tmpdir(), 'edgetier-bind-'));
    const serve = await startServe([
      '--host',
      '0.0.0.0',
      '--allowed-host',
      'edge.lan',
      '--allowed-host',
      '192.168.7.9',
      '--no-tier',
      '--models',
      root,
      '--app',
      join(root, 'no-app'),
    ]);
    try {
      const base = serve.url;
      const port = new URL(base).port;
      for (const host of ['127.attacker.example', 'attacker.example', 'edge.lan.evil', '192.168.7.10']) {
        expect((await rawGet(base, '/v1/models', { Host: host })).status, host).toBe(421);
      }
      for (const host of ['127.0.0.1', 'localhost', `edge.lan:${port}`, 'EDGE.LAN', '192.168.7.9']) {
        expect((await rawGet(base, '/v1/models', { Host: host })).status, host).toBe(200);
      }
      expect(serve.output()).toContain(
        'answers to Host names: localhost, 127.0.0.0/8, [::1], edge.lan, 192.168.7.9',
      );
    } finally {
      expect(await serve.stop()).toBe(0);
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('edgetier serve with the native tier', () => {
  let root: string;
  let serve: ServeProcess;
  let base: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'edgetier-native-'));
    await synthPreset('tiny', join(root, 'tiny-twin'), { dtypes: ['fp32'] });
    serve = await startServe([
      '--models',
      root,
      '--queue',
      '8',
      '--app',
      join(root, 'no-app'),
      '--grace',
      '1',
    ]);
    base = serve.url;
    for (let i = 0; i < 100; i++) {
      const health = (await (await fetch(`${base}healthz`)).json()) as { native: string };
      if (health.native !== 'loading') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    const code = await serve?.stop();
    rmSync(root, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it('says plainly what the tier is in /v1/models', async () => {
    const list = (await (await fetch(`${base}v1/models`)).json()) as { data: Record<string, unknown>[] };
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({
      id: 'tiny-twin',
      owned_by: 'edgetier',
      edgetier: {
        tier: 'native',
        runtime: 'onnxruntime-node',
        dtype: 'fp32',
        state: 'ready',
        synthetic: true,
      },
    });
    expect((list.data[0]!.edgetier as { description: string }).description).toMatch(
      /^Synthetic shape twin .*random weights/,
    );
  });

  it('streams greedy answers to the openai client, identical to the non-streamed answer', async () => {
    const client = new OpenAI({ baseURL: `${base}v1`, apiKey: 'x', maxRetries: 0 });
    const request = {
      model: 'tiny-twin',
      messages: [{ role: 'user' as const, content: 'Hello' }],
      temperature: 0,
      max_tokens: 12,
    };
    const stream = await client.chat.completions.create({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: { completion_tokens: number } | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    const whole = await client.chat.completions.create(request);
    expect(whole.choices[0]?.message.content).toBe(text);
    expect(usage?.completion_tokens).toBe(12);
    expect(finish).toBe('length');
  });

  it('serves 20 concurrent streams: each completes or gets a clean 429, none hang, memory returns to baseline', async () => {
    const request = ask('tiny-twin', { stream: true, temperature: 0, max_tokens: 24 });
    await postChat(base, request); // warm up: ORT's first run allocates its arenas
    const baseline = serve.rssBytes();
    for (let round = 0; round < 2; round++) {
      const replies = await Promise.all(Array.from({ length: 20 }, () => postChat(base, request)));
      const done = replies.filter((r) => r.status === 200);
      const refused = replies.filter((r) => r.status === 429);
      expect(done.length + refused.length).toBe(20);
      expect(done.length).toBeGreaterThanOrEqual(9); // one running + eight queued
      for (const r of done) {
        expect(r.events.at(-1)).toBe('[DONE]');
        expect(r.text).toBe(done[0]!.text);
      }
      for (const r of refused) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.json?.error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      }
    }
    const after = serve.rssBytes();
    expect(after).toBeLessThan(baseline * 1.25 + 32 * 1024 * 1024);
  });

  it('frees the slot at once when a client disconnects mid-stream', async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(ask('tiny-twin', { stream: true, temperature: 0, max_tokens: 2000 })),
      signal: controller.signal,
    });
    await response.body!.getReader().read();
    controller.abort();
    // The server notices the closed socket, stops the generation at its next token and logs the
    // request as client-gone once its slot is released (without the abort it would run 2000 tokens).
    await vi.waitFor(() => expect(serve.output()).toMatch(/model=tiny-twin stream deltas=\d+ client-gone/), {
      timeout: 30_000,
      interval: 50,
    });
    // With --queue 8, nine more requests fit only if the abandoned one has left.
    const replies = await Promise.all(
      Array.from({ length: 9 }, () =>
        postChat(base, ask('tiny-twin', { stream: true, temperature: 0, max_tokens: 4 })),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(9).fill(200));
  });

  it('refuses a streaming request that cannot fit with HTTP 400 before any SSE byte, as without streaming', async () => {
    const huge = 'the keeper lit the lamp again '.repeat(1500);
    for (const stream of [true, false]) {
      const reply = await postChat(base, {
        model: 'tiny-twin',
        messages: [{ role: 'user', content: huge }],
        max_tokens: 8,
        stream,
      });
      expect(reply.status, `stream=${stream}`).toBe(400);
      expect(reply.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(reply.json?.error).toMatchObject({ type: 'invalid_request_error', code: 'context_overflow' });
      expect(reply.json?.error?.message).toMatch(/^The last message alone needs \d+ tokens but only \d+ fit/);
    }
  });

  it('refuses a frequency or presence penalty and a seed by name with HTTP 400 (it applies none of them); zero penalties pass', async () => {
    const cases = [
      [
        'frequency_penalty',
        0.5,
        "The native tier does not apply 'frequency_penalty' (got 0.5): send 0 or leave it out ('repetition_penalty' is applied), or ask a model of the upstream tier.",
      ],
      [
        'presence_penalty',
        -1,
        "The native tier does not apply 'presence_penalty' (got -1): send 0 or leave it out ('repetition_penalty' is applied), or ask a model of the upstream tier.",
      ],
      [
        'seed',
        42,
        "The native tier cannot seed its sampling (got 'seed' 42): leave 'seed' out ('temperature' 0 gives the same answer every time), or ask a model of the upstream tier.",
      ],
    ] as const;
    for (const [param, value, message] of cases) {
      for (const stream of [true, false]) {
        const reply = await postChat(base, ask('tiny-twin', { [param]: value, max_tokens: 2, stream }));
        expect(reply.status, `${param} stream=${stream}`).toBe(400);
        expect(reply.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(reply.json).toEqual({
          error: { message, type: 'invalid_request_error', param, code: 'unsupported_parameter' },
        });
      }
    }
    const accepted = await postChat(
      base,
      ask('tiny-twin', {
        frequency_penalty: 0,
        presence_penalty: 0,
        seed: null,
        temperature: 0,
        max_tokens: 2,
      }),
    );
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ usage: { completion_tokens: 2 } });
  });

  it('shuts down gracefully on SIGTERM while a stream runs: the stream ends, the process exits 0', async () => {
    const reply = postChat(base, ask('tiny-twin', { stream: true, temperature: 0, max_tokens: 1500 }));
    await new Promise((r) => setTimeout(r, 300));
    const code = await serve.stop();
    const done = await reply;
    expect(done.status).toBe(200);
    const last = done.events.at(-1)!;
    expect(last === '[DONE]' || JSON.parse(last).error !== undefined).toBe(true);
    expect(code).toBe(0);
    expect(serve.output()).toContain('SIGTERM: shutting down…');
  });
});

describe('edgetier serve shutting down mid-request (--grace 0.1)', () => {
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'edgetier-shutdown-'));
    await synthPreset('tiny', join(root, 'tiny-twin'), { dtypes: ['fp32'] });
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  async function startTiny(): Promise<ServeProcess> {
    const serve = await startServe(['--models', root, '--app', join(root, 'no-app'), '--grace', '0.1']);
    await vi.waitFor(
      async () => {
        const health = (await (await fetch(`${serve.url}healthz`)).json()) as { native: string };
        expect(health.native).toBe('ready');
      },
      { timeout: 60_000, interval: 100 },
    );
    return serve;
  }

  const long = (stream: boolean) => ask('tiny-twin', { stream, temperature: 0, max_tokens: 1900 });

  /** Resolves once a streaming reply has sent `count` SSE events (its headers and first delta). */
  async function openStream(base: string, body: unknown, count: number) {
    const response = await fetch(`${base}v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let raw = '';
    const events = () => raw.split('\n\n').filter((e) => e.startsWith('data: '));
    while (events().length < count) {
      const { done, value } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
    }
    const rest = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        raw += decoder.decode(value, { stream: true });
      }
      return events().map((e) => e.slice('data: '.length));
    })();
    return { status: response.status, rest };
  }

  it('a cut running answer is an error naming the shutdown, never finish_reason "stop"; a queued stream is told why', async () => {
    const serve = await startTiny();
    // A runs (not streaming); B waits behind it, its stream opened (role event) while queued.
    const a = postChat(serve.url, long(false));
    await new Promise((r) => setTimeout(r, 200));
    const b = await openStream(serve.url, long(true), 1);
    expect(b.status).toBe(200);
    serve.child.kill('SIGINT');
    const cutA = await a;
    const eventsB = await b.rest;
    expect(await serve.exited).toBe(0);
    expect(cutA.status).toBe(503);
    expect(cutA.json?.error).toMatchObject({ type: 'server_error', code: 'shutting_down' });
    expect(cutA.json?.error?.message).toMatch(/^The server is shutting down/);
    const lastB = JSON.parse(eventsB.at(-1)!) as { error?: { code: string; message: string } };
    expect(lastB.error).toMatchObject({ code: 'shutting_down' });
    expect(lastB.error?.message).toMatch(/^The server is shutting down/);
    expect(eventsB).not.toContain('[DONE]');
    const log = serve.output();
    expect(log.match(/POST \/v1\/chat\/completions .* shutdown/g)).toHaveLength(2);
    expect(log).not.toContain('client-gone');
  });

  it('a running stream ends with an error event naming the shutdown', async () => {
    const serve = await startTiny();
    const a = await openStream(serve.url, long(true), 2);
    expect(a.status).toBe(200);
    serve.child.kill('SIGINT');
    const events = await a.rest;
    expect(await serve.exited).toBe(0);
    const last = JSON.parse(events.at(-1)!) as { error?: { code: string; message: string } };
    expect(last.error).toMatchObject({ type: 'server_error', code: 'shutting_down' });
    expect(events).not.toContain('[DONE]');
    expect(serve.output()).toMatch(/POST \/v1\/chat\/completions 200 .* stream deltas=\d+ shutdown/);
  });
});
