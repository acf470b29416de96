/**
 * The engine's remaining error codes, provoked for real in Debian's headless Chromium through the
 * real engine worker: a server that fails a weights download (500, or a body that breaks off), a
 * Chromium without WebGPU, a prompt longer than the model's context, a request cancelled before it
 * starts, and a GPU device destroyed under onnxruntime-web. Each test checks the code and the words
 * a person acts on. (engine.test.ts covers model_not_found, unsupported_dtype, weights_corrupt and
 * unsupported_architecture.)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import type { GenerateRequest } from '../../src/core/engine.ts';
import { failureOf } from '../helpers/failure.ts';

/** The part of window.edgetier (src/client/engine-harness.ts, a page-realm file) these tests call. */
interface EngineHarness {
  capabilities(): Promise<unknown>;
  generate(
    request: GenerateRequest,
    options: { interruptAfterTokens?: number },
  ): Promise<{ ok: true } | { ok: false; code: string; message: string; isEdgetierError: boolean }>;
}

const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;
let tiny: string;
/** A Chromium launched without `--enable-unsafe-webgpu`, behind a page server that injects faults. */
let engine: BrowserEngine;

const WEIGHTS = /^\/models\/(fails-500|breaks-off)\/onnx\/model\.onnx$/;

/** 500 for one model's weights; for another, a body that breaks off after 4 KiB, and resumes that bring nothing. */
function faults(request: IncomingMessage, response: ServerResponse): boolean {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const match = WEIGHTS.exec(url.pathname);
  if (!match) return false;
  if (match[1] === 'fails-500') {
    response.writeHead(500, { 'Content-Type': 'text/plain' }).end('disk on fire');
    return true;
  }
  const file = join(tiny, 'onnx/model.onnx');
  const size = statSync(file).size;
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const end = range?.[2] ? Number(range[2]) : size - 1;
  // Size probes (bytes=0-0) are answered in full; the real downloads are cut.
  if (end - start < 4096) return false;
  const common = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: '"tiny-weights"',
    'Content-Length': String(end - start + 1),
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
  response.writeHead(
    range ? 206 : 200,
    range ? { ...common, 'Content-Range': `bytes ${start}-${end}/${size}` } : common,
  );
  // The first request delivers 4 KiB, then closes short of Content-Length once the page has had
  // time to read them (Chromium drops bytes not yet read when a connection fails: on a busy machine
  // an immediate reset left the download with nothing, and another message). Every resume breaks
  // off before any byte, so the download fails having kept exactly those 4 KiB.
  if (start > 0) {
    response.flushHeaders();
    response.destroy();
    return true;
  }
  response.write(readFileSync(file).subarray(start, start + 4096), () =>
    setTimeout(() => response.socket?.end(), 250),
  );
  return true;
}

const harness = (target: BrowserEngine) => ({
  generate: (request: GenerateRequest, options: { interruptAfterTokens?: number }) =>
    target.page.evaluate(
      ([req, opts]) => (globalThis as unknown as { edgetier: EngineHarness }).edgetier.generate(req, opts),
      [request, options] as const,
    ),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-engine-errors-'));
  tiny = join(dir, 'tiny');
  execFileSync('node', [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', tiny, '--dtype', 'fp32'], {
    stdio: 'ignore',
  });
  engine = await BrowserEngine.start({ intercept: faults });
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

describe('engine errors provoked for real in Chromium', () => {
  it('download_failed names the URL and the HTTP status when the server answers 500', async () => {
    const url = engine.serveModel(tiny, 'fails-500');
    const e = await failureOf(engine.load({ source: { kind: 'url', url }, device: 'wasm', dtype: 'fp32' }));
    expect(e.code).toBe('download_failed');
    expect(e.message).toContain(`${url}/onnx/model.onnx`);
    expect(e.message).toMatch(/HTTP 500/);
  });

  it('download_failed says how far a download got when its body keeps breaking off', async () => {
    const url = engine.serveModel(tiny, 'breaks-off');
    const e = await failureOf(engine.load({ source: { kind: 'url', url }, device: 'wasm', dtype: 'fp32' }));
    expect(e.code).toBe('download_failed');
    const size = statSync(join(tiny, 'onnx/model.onnx')).size;
    expect(e.message).toContain(`${url}/onnx/model.onnx broke off after`);
    expect(e.message).toContain(`of ${size} bytes`);
    expect(e.message).toMatch(/Retry the load/);
  });

  it('no_webgpu in a Chromium without WebGPU says what to enable, and a wasm load works next', async () => {
    const e = await failureOf(
      engine.load({ source: { kind: 'path', path: tiny }, device: 'webgpu', dtype: 'fp32' }),
    );
    expect(e.code).toBe('no_webgpu');
    expect(e.message).toMatch(/WebGPU is not available/);
    expect(e.message).toMatch(/Choose the WASM backend, or enable hardware acceleration/);
    await engine.load({ source: { kind: 'path', path: tiny }, device: 'wasm', dtype: 'fp32' });
    const next = await engine.generate({ prompt: 'ok', sampling: { maxNewTokens: 2 } });
    expect(next.outputIds).toHaveLength(2);
  });

  it('context_overflow for a last message longer than the context window, then serves the next', async () => {
    const short = join(dir, 'short-context');
    cpSync(tiny, short, { recursive: true });
    const config = JSON.parse(readFileSync(join(short, 'config.json'), 'utf8'));
    writeFileSync(join(short, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 64 }));
    await engine.load({ source: { kind: 'path', path: short }, device: 'wasm', dtype: 'fp32' });
    const long = 'hello world '.repeat(60);

    const chat = await failureOf(
      engine.generate({ messages: [{ role: 'user', content: long }], sampling: { maxNewTokens: 8 } }),
    );
    expect(chat.code).toBe('context_overflow');
    // 64 positions less the 8 kept for the answer.
    expect(chat.message).toMatch(/^The last message alone needs \d+ tokens but only 56 fit/);
    expect(chat.message).toMatch(/Shorten the message or lower max new tokens/);

    const raw = await failureOf(engine.generate({ prompt: long, sampling: { maxNewTokens: 8 } }));
    expect(raw.code).toBe('context_overflow');
    expect(raw.message).toMatch(/plus 8 for the answer, but the context window holds 64/);

    const next = await engine.generate({ prompt: 'hello', sampling: { maxNewTokens: 3 } });
    expect(next.outputIds).toHaveLength(3);
  });

  it('aborted for a request cancelled before it starts, and the engine serves the next', async () => {
    await engine.load({ source: { kind: 'path', path: tiny }, device: 'wasm', dtype: 'fp32' });
    const outcome = await harness(engine).generate(
      { prompt: 'Once upon a time', sampling: { maxNewTokens: 8 } },
      { interruptAfterTokens: 0 },
    );
    expect(outcome).toMatchObject({ ok: false, code: 'aborted', isEdgetierError: true });
    expect(outcome.ok || outcome.message).toBe('Stopped: the request was cancelled.');
    const next = await engine.generate({ prompt: 'Again', sampling: { maxNewTokens: 2 } });
    expect(next.outputIds).toHaveLength(2);
  });
});

describe('a GPU device lost under onnxruntime-web (SwiftShader)', () => {
  it('device_lost when the GPUDevice the model runs on is destroyed, and a reload works', async () => {
    const gpu = await BrowserEngine.start({ webgpu: true });
    try {
      // Start the worker, then record every GPUDevice created in it (ORT creates its own at load).
      await gpu.page.evaluate(() =>
        (globalThis as unknown as { edgetier: EngineHarness }).edgetier.capabilities(),
      );
      const [worker] = gpu.page.workers();
      expect(worker).toBeDefined();
      await worker!.evaluate(() => {
        type Device = { destroy(): void };
        const scope = globalThis as unknown as {
          GPUAdapter: { prototype: { requestDevice(...args: unknown[]): Promise<Device> } };
          edgetierDevices: Device[];
        };
        scope.edgetierDevices = [];
        const original = scope.GPUAdapter.prototype.requestDevice;
        scope.GPUAdapter.prototype.requestDevice = async function (this: unknown, ...args: unknown[]) {
          const device = await original.apply(this, args);
          scope.edgetierDevices.push(device);
          return device;
        };
      });
      await gpu.load({ source: { kind: 'path', path: tiny }, device: 'webgpu', dtype: 'fp32' });
      const destroyed = await worker!.evaluate(() => {
        const devices = (globalThis as unknown as { edgetierDevices: { destroy(): void }[] }).edgetierDevices;
        for (const device of devices) device.destroy();
        return devices.length;
      });
      expect(destroyed).toBeGreaterThan(0);
      const e = await failureOf(gpu.generate({ prompt: 'Hello there', sampling: { maxNewTokens: 4 } }));
      expect(e.code).toBe('device_lost');
      // ORT's own words (mapAsync on a destroyed device), without its build path.
      expect(e.message).toMatch(
        /^The GPU device was lost \(.*Device was lost before mapping was resolved\)\./,
      );
      expect(e.message).toMatch(/Reload the model/);
      await gpu.load({ source: { kind: 'path', path: tiny }, device: 'webgpu', dtype: 'fp32' });
      const next = await gpu.generate({ prompt: 'Hello there', sampling: { maxNewTokens: 2 } });
      expect(next.outputIds).toHaveLength(2);
    } finally {
      await gpu.unload();
    }
  });
});
