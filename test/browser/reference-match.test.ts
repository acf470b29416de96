/**
 * Every browser backend against the independent reference forward pass (src/reference, plain
 * TypeScript, no KV cache): a converted fp32 checkpoint must produce the reference's greedy tokens on
 * each ORT build the engine can pick (JSPI, plain, and the asyncify build stock transformers.js
 * uses), at one and two threads, and on WebGPU (SwiftShader here). q8 and q4 are not exact (the
 * activation scale depends on the other tokens), so only fp32 is compared.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import type { OrtBuild } from '../../src/core/backend-plan.ts';
import type { GenerateResult } from '../../src/core/engine.ts';
import type { LoadedInfo } from '../../src/core/engine-protocol.ts';
import { loadReferenceCheckpoint } from '../../src/reference/checkpoint.ts';
import type { GreedyStep } from '../../src/reference/forward.ts';
import { FIXTURE_TOKENS, makeCheckpoint } from '../helpers/checkpoints.ts';
import { compareGreedy } from '../helpers/greedy.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const NEW_TOKENS = 20;
/** Token ids inside the tiny tokenizer's vocabulary, fed as they are (no template, no tokenizer). */
const PROMPT_IDS = [17, 240, 31, 99, 5, 180, 64, 12, 201, 77, 3, 150];

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };
interface Harness {
  load(request: unknown): Promise<Outcome<LoadedInfo>>;
  generate(request: unknown): Promise<Outcome<{ result: GenerateResult }>>;
  unload(): Promise<Outcome<void>>;
}

let dir: string;
let model: string;
let reference: GreedyStep[];
let engine: BrowserEngine;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-reference-match-'));
  const checkpoint = join(dir, 'checkpoint');
  model = join(dir, 'onnx');
  // Qwen3: q/k norms, explicit head_dim, GQA and an untied head — the most operators of any family.
  // Linear weights at 3x the Kaiming scale, so the layers outweigh the embedding (as in golden.test.ts).
  await makeCheckpoint(checkpoint, { family: 'qwen3', tied: false, seed: 21, linearScale: 3 });
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'convert', checkpoint, '--out', model, '--dtype', 'fp32'],
    {
      stdio: 'ignore',
    },
  );
  const { model: ref } = await loadReferenceCheckpoint(checkpoint);
  reference = ref.greedy(PROMPT_IDS, NEW_TOKENS, [FIXTURE_TOKENS.imEnd]);
  // The test has teeth only if the continuation is not one token repeated.
  expect(new Set(reference.map((s) => s.token)).size).toBeGreaterThan(3);
  engine = await BrowserEngine.start();
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

/** Loads the model with exactly this build and thread count, generates greedily, unloads. */
async function run(
  on: BrowserEngine,
  request: { device: 'wasm' | 'webgpu'; build: OrtBuild; threads: number },
): Promise<{ info: LoadedInfo; result: GenerateResult }> {
  const url = on.serveModel(model, 'reference-match');
  const outcome = await on.page.evaluate(
    async ({ url, request, promptIds, maxNewTokens }) => {
      const h = (globalThis as unknown as { edgetier: Harness }).edgetier;
      const loaded = await h.load({ source: { kind: 'url', url }, dtype: 'fp32', ...request });
      if (!loaded.ok) return loaded;
      const generated = await h.generate({ promptIds, sampling: { maxNewTokens } });
      await h.unload();
      if (!generated.ok) return generated;
      return { ok: true as const, value: { info: loaded.value, result: generated.value.result } };
    },
    { url, request, promptIds: PROMPT_IDS, maxNewTokens: NEW_TOKENS },
  );
  if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
  return outcome.value;
}

describe('greedy fp32 tokens on every browser backend equal the reference forward pass', () => {
  it.each([
    { build: 'jspi', threads: 1 },
    { build: 'jspi', threads: 2 },
    { build: 'wasm', threads: 1 },
    { build: 'wasm', threads: 2 },
    // The asyncify build is what stock transformers.js imports; edgetier uses it only for WebGPU.
    { build: 'webgpu', threads: 1 },
  ] as const)('wasm, $build build, $threads thread(s)', async ({ build, threads }) => {
    const { info, result } = await run(engine, { device: 'wasm', build, threads });
    expect(info.build).toBe(build);
    expect(info.device).toBe('wasm');
    expect(info.threads).toBe(threads);
    expect(result.promptIds).toEqual(PROMPT_IDS);
    compareGreedy(`wasm ${build} ${threads}t`, result.outputIds, reference);
  });

  it('webgpu (SwiftShader in headless Chromium)', async () => {
    const gpu = await BrowserEngine.start({ webgpu: true });
    try {
      const { info, result } = await run(gpu, { device: 'webgpu', build: 'webgpu', threads: 1 });
      expect(info.device).toBe('webgpu');
      compareGreedy('webgpu', result.outputIds, reference);
    } finally {
      await gpu.unload();
    }
  });
});
