/**
 * The CPU runtime chosen by default ('auto', src/core/cpu-runtime-plan.ts) in the real engine worker,
 * in Chromium: a q8 model edgetier converted runs on edgetier's CPU engine, an fp32 one on ONNX
 * Runtime (ORT-web decodes it faster), a q8 graph the engine does not recognise on ONNX Runtime after
 * its refusal, and LoadInfo says which and why each time; an explicit 'onnxruntime' is kept; and
 * `edgetier generate --device wasm --json` names the engine and the reason; WebGPU (SwiftShader here)
 * stays on ONNX Runtime.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { AUTO_ENGINE_PREFERS_Q4 } from '../../src/core/cpu-runtime-plan.ts';
import type { LoadProgress, LoadRequest } from '../../src/core/engine.ts';
import type { LoadedInfo } from '../../src/core/engine-protocol.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const AUTO_Q8 =
  "auto: edgetier's CPU engine decodes q8 weights 2.6-3.2x faster than ONNX Runtime does on WASM, in 30-40 % of its memory.";

let dir: string;
let tiny: string;
let foreign: string;
/** q8 and q4 files; the q4 one carries an initializer the engine refuses, the q8 one is the converter's. */
let foreignQ4: string;
let engine: BrowserEngine;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const field = (tag: number, payload: number[]) => [tag, ...varint(payload.length), ...payload];

/** A load with no runtime: what every caller that does not choose gets. */
const plain = (path: string, dtype: LoadRequest['dtype']): LoadRequest => ({
  source: { kind: 'path', path },
  device: 'wasm',
  dtype,
  threads: 1,
  warmupBudgetMs: 0,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-cpu-engine-auto-'));
  tiny = join(dir, 'tiny');
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', tiny, '--dtype', 'fp32,q8'],
    { stdio: 'ignore' },
  );
  // The q8 file with one initializer edgetier's converter never writes, as another exporter's graph
  // would have (cpu-engine.test.ts does the same to the fp32 file): ORT accepts it, the engine refuses it.
  foreign = join(dir, 'foreign');
  cpSync(tiny, foreign, { recursive: true });
  const name = [...new TextEncoder().encode('onnx::MatMul_1234')];
  const tensor = [...[0x08, 1], ...[0x10, 1], ...field(0x42, name), ...field(0x4a, [0, 0, 0, 0])];
  const file = join(foreign, 'onnx', 'model_quantized.onnx');
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from(field(0x3a, field(0x2a, tensor)))]));
  // config.json keeps edgetier's block: the planner's mark says the engine's, the engine still refuses.
  foreignQ4 = join(dir, 'foreign-q4');
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', foreignQ4, '--dtype', 'q8,q4'],
    { stdio: 'ignore' },
  );
  const q4 = join(foreignQ4, 'onnx', 'model_q4.onnx');
  writeFileSync(q4, Buffer.concat([readFileSync(q4), Buffer.from(field(0x3a, field(0x2a, tensor)))]));
  engine = await BrowserEngine.start();
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

describe('the CPU runtime by default (auto) in the engine worker', () => {
  it("a q8 model edgetier converted runs on edgetier's CPU engine, and LoadInfo says why", async () => {
    const info: LoadedInfo = await engine.load(plain(tiny, 'q8'));
    expect(info.engine).toBe('edgetier-wasm');
    expect(info.runtimeChoice).toEqual({ asked: 'auto', reason: AUTO_Q8 });
    expect(info.fallback).toBeUndefined();
    const auto = await engine.generate({ prompt: 'Hello', sampling: { maxNewTokens: 6, ignoreEos: true } });
    expect(auto.metrics.engine).toBe('edgetier-wasm');
    // The same tokens as the CPU engine asked for by name.
    const forced = await engine.load({ ...plain(tiny, 'q8'), runtime: 'edgetier' });
    expect(forced.runtimeChoice).toEqual({
      asked: 'edgetier',
      reason: "edgetier's CPU engine was asked for.",
    });
    const named = await engine.generate({ prompt: 'Hello', sampling: { maxNewTokens: 6, ignoreEos: true } });
    expect(named.outputIds).toEqual(auto.outputIds);
  });

  it('fp32 stays on ONNX Runtime, and an explicit onnxruntime is kept for q8', async () => {
    const fp32 = await engine.load(plain(tiny, 'fp32'));
    expect(fp32.engine).toBe('onnxruntime-web');
    expect(fp32.runtimeChoice).toEqual({
      asked: 'auto',
      reason: "auto: ONNX Runtime decodes fp32 weights 1.3-1.8x faster than edgetier's CPU engine.",
    });
    const ort = await engine.load({ ...plain(tiny, 'q8'), runtime: 'onnxruntime' });
    expect(ort.engine).toBe('onnxruntime-web');
    expect(ort.runtimeChoice).toEqual({ asked: 'onnxruntime', reason: 'ONNX Runtime was asked for.' });
  });

  it('a q8 graph the CPU engine does not recognise runs on ONNX Runtime, and LoadInfo says why', async () => {
    const info = await engine.load(plain(foreign, 'q8'));
    expect(info.engine).toBe('onnxruntime-web');
    expect(info.runtimeChoice).toEqual({ asked: 'auto', reason: AUTO_Q8 });
    expect(info.fallback).toEqual({
      asked: 'edgetier',
      code: 'unsupported_architecture',
      reason:
        'The q8 ONNX file has initializers the CPU engine does not recognise (onnx::MatMul_1234): it runs only graphs edgetier converted; run this one on ORT.',
    });
    const result = await engine.generate({ prompt: 'Hello', sampling: { maxNewTokens: 3, ignoreEos: true } });
    expect(result.metrics.engine).toBe('onnxruntime-web');
    expect(result.outputIds).toHaveLength(3);
    // Asked for by name (benchmarks, tests), the engine's refusal stays an error: no row is mislabelled.
    await expect(engine.load({ ...plain(foreign, 'q8'), runtime: 'edgetier' })).rejects.toMatchObject({
      code: 'unsupported_architecture',
    });
  });

  it('a q4 planned for the engine and refused loads q8 on ONNX Runtime (ortDtype); a q4 asked for stays q4', async () => {
    // What the app and loadAuto send where the plan chose q4 for the engine (AUTO_ENGINE_PREFERS_Q4).
    const planned = { ...plain(foreignQ4, 'q4'), ortDtype: 'q8' } as LoadRequest;
    const progress: LoadProgress[] = [];
    const info = await engine.load(planned, (p) => progress.push(p));
    // ORT's load reports progress marked as the fallback's (its figures start over), and only it does.
    const marked = progress.filter((p) => p.fallback === 'onnxruntime');
    expect(marked.length).toBeGreaterThan(0);
    expect(marked.some((p) => p.file.endsWith('model_quantized.onnx'))).toBe(true);
    expect(progress.findIndex((p) => p.fallback === 'onnxruntime')).toBe(progress.length - marked.length);
    expect(info.engine).toBe('onnxruntime-web');
    expect(info.dtype).toBe('q8');
    expect(info.fallback).toMatchObject({
      asked: 'edgetier',
      code: 'unsupported_architecture',
      plannedDtype: 'q4',
      reason: expect.stringMatching(/^The q4 ONNX file has initializers the CPU engine does not recognise/),
    });
    const result = await engine.generate({ prompt: 'Hello', sampling: { maxNewTokens: 3, ignoreEos: true } });
    expect(result.metrics).toMatchObject({ engine: 'onnxruntime-web', dtype: 'q8' });
    // Without ortDtype (a dtype the user chose), the fallback keeps it: ORT runs q4, and says nothing of q8.
    const pinned = await engine.load(plain(foreignQ4, 'q4'));
    expect(pinned).toMatchObject({ engine: 'onnxruntime-web', dtype: 'q4' });
    expect(pinned.fallback?.plannedDtype).toBeUndefined();
    // A file the engine accepts runs on it as asked: ortDtype only matters on a refusal.
    const fineProgress: LoadProgress[] = [];
    const fine = await engine.load({ ...plain(foreignQ4, 'q8'), ortDtype: 'q4' } as LoadRequest, (p) =>
      fineProgress.push(p),
    );
    expect(fineProgress.length).toBeGreaterThan(0);
    expect(fineProgress.filter((p) => p.fallback !== undefined)).toEqual([]);
    expect(fine).toMatchObject({ engine: 'edgetier-wasm', dtype: 'q8' });
    expect(fine.fallback).toBeUndefined();
  });

  it("the worker's plan follows AUTO_ENGINE_PREFERS_Q4 for a folder edgetier wrote, known before any weight is fetched", async () => {
    type Harness = { edgetier: { capabilities(): Promise<unknown>; plan(s: unknown): Promise<unknown> } };
    const caps = (await engine.page.evaluate(() =>
      (globalThis as unknown as Harness).edgetier.capabilities(),
    )) as { ok: true; value: { wasmSimd: boolean } };
    expect(caps.value.wasmSimd).toBe(true);
    const source = { kind: 'url', url: engine.serveModel(foreignQ4) };
    const plan = (await engine.page.evaluate(
      (s) => (globalThis as unknown as Harness).edgetier.plan(s),
      source,
    )) as { ok: true; value: { choices: { dtype: string; ortDtype?: string }[] } };
    expect(plan.value.choices[0]).toMatchObject(
      AUTO_ENGINE_PREFERS_Q4 ? { dtype: 'q4', ortDtype: 'q8' } : { dtype: 'q8' },
    );
  });

  it('WebGPU runs on ONNX Runtime, q8 weights included (SwiftShader in headless Chromium)', async () => {
    const gpu = await BrowserEngine.start({ webgpu: true });
    try {
      const info = await gpu.load({ ...plain(tiny, 'q8'), device: 'webgpu' });
      expect(info.device).toBe('webgpu');
      expect(info.engine).toBe('onnxruntime-web');
      expect(info.runtimeChoice).toEqual({ asked: 'auto', reason: 'auto: WebGPU runs on ONNX Runtime.' });
      const result = await gpu.generate({ prompt: 'Hi', sampling: { maxNewTokens: 2, ignoreEos: true } });
      expect(result.metrics.engine).toBe('onnxruntime-web');
    } finally {
      await gpu.unload();
    }
  });

  it('weights the folder lacks: unsupported_dtype naming the file, by default and on either runtime', async () => {
    // The CPU engine said model_not_found here, where ORT says unsupported_dtype: one error for both.
    for (const runtime of [undefined, 'edgetier', 'onnxruntime'] as const) {
      await expect(
        engine.load({ ...plain(tiny, 'q4'), ...(runtime ? { runtime } : {}) }),
        `runtime ${runtime ?? 'auto'}`,
      ).rejects.toMatchObject({
        code: 'unsupported_dtype',
        message: expect.stringMatching(/model_q4\.onnx/),
      });
    }
  });

  it('`edgetier generate --device wasm --json` names the engine that ran and why', async () => {
    const run = (...args: string[]) =>
      promisify(execFile)(
        process.execPath,
        [
          'bin/edgetier.mjs',
          'generate',
          ...args,
          '--prompt',
          'Hi',
          '--raw',
          '--json',
          '--max-new-tokens',
          '3',
        ],
        { cwd: ROOT, timeout: 240_000 },
      ).then((r) => JSON.parse(r.stdout));
    const q8 = await run(tiny, '--device', 'wasm', '--dtype', 'q8', '--threads', '1');
    expect(q8.engine).toBe('edgetier-wasm');
    expect(q8.engine_choice).toEqual({ asked: 'auto', reason: AUTO_Q8 });
    expect(q8.engine_fallback).toBeUndefined();
    const refused = await run(foreign, '--device', 'wasm', '--dtype', 'q8', '--threads', '1');
    expect(refused.engine).toBe('onnxruntime-web');
    expect(refused.engine_fallback).toMatchObject({ asked: 'edgetier', code: 'unsupported_architecture' });
  });
});
