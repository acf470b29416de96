/**
 * The NaN-logits refusal across the real engine worker in Debian's Chromium (from a hostile review):
 * the code and message reach Node through Comlink and the page; the same loaded model answers the
 * next request as a fresh load; a NaN in the load's own warm-up does not refuse the load (it did: a
 * model that answers other prompts failed to load, with a message about an answer nobody asked for).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { DTYPE_FILE } from '../../src/core/dtypes.ts';
import type { GenerateRequest } from '../../src/core/engine.ts';
import { type ConvertedFolders, convertedFolders } from '../helpers/converted-folders.ts';
import { failureOf } from '../helpers/failure.ts';
import { onnxWithFloats } from '../helpers/onnx-floats.ts';

const msg = (n: number) =>
  `The model's scores for token ${n} of the answer are not numbers (NaN), so no next token can be chosen: its arithmetic overflowed (as f16 weights on a GPU can) or its weights are damaged. Try another weight format (dtype) or device.`;

let root: string;
let folders: ConvertedFolders;
let nanNorm: string;
let nanEmbed: string;
let engine: BrowserEngine;
const BAD = 300;

/** The fp32 file with `values` of `name` set (onnxWithFloats). */
const patched = (name: string, values: [number, number][]) =>
  onnxWithFloats(folders.built, 'fp32', { [name]: values });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-nan-worker-'));
  folders = await convertedFolders(join(root, 'plain'), 'fp32', { tied: false, seed: 21 });
  nanNorm = folders.folder('nan-norm', {
    [`onnx/${DTYPE_FILE.fp32}`]: patched('model.norm.weight', [[0, Number.NaN]]),
  });
  nanEmbed = folders.folder('nan-embed', {
    [`onnx/${DTYPE_FILE.fp32}`]: patched('model.embed_tokens.weight', [[BAD * 64, Number.NaN]]),
  });
  engine = await BrowserEngine.start();
}, 180_000);

afterAll(async () => {
  await engine?.unload();
  await rm(root, { recursive: true, force: true });
});

const req = (promptIds: number[], maxNewTokens = 4): GenerateRequest => ({
  promptIds,
  sampling: { maxNewTokens, ignoreEos: true },
});

describe.each(['edgetier', 'onnxruntime'] as const)('engine worker, runtime %s', (runtime) => {
  it('the refusal crosses the worker with its code and message; the same model answers next as a fresh load', async () => {
    const load = { device: 'wasm', dtype: 'fp32', runtime, warmupBudgetMs: 0 } as const;
    await engine.load({ source: { kind: 'path', path: nanEmbed }, ...load });
    const fresh = await engine.generate(req([20, 21, 22], 6));
    expect(fresh.metrics.engine).toBe(runtime === 'edgetier' ? 'edgetier-wasm' : 'onnxruntime-web');
    // A conversation that shares a prefix with what fails next, so its cache would be reused.
    await engine.generate(req([20, 21, 22, 23, 24], 2));
    const e = await failureOf(engine.generate(req([20, 21, 22, 23, 24, BAD, 25], 4)));
    expect(e).toEqual({ code: 'generation_failed', message: msg(1) });
    const again = await engine.generate(req([20, 21, 22], 6));
    expect(again.outputIds).toEqual(fresh.outputIds);
    expect(again.metrics.cachedPromptTokens).toBe(0);
  });

  it('a model whose every step is NaN loads with the default warm-up; its first request is refused', async () => {
    await engine.load({ source: { kind: 'path', path: nanNorm }, device: 'wasm', dtype: 'fp32', runtime });
    const e = await failureOf(engine.generate(req([20, 21, 22], 4)));
    expect(e).toEqual({ code: 'generation_failed', message: msg(1) });
  });
});

describe('the warm-up after a load', () => {
  it('a model that answers a request loads though a NaN shows late in the warm-up', async () => {
    const load = { device: 'wasm', dtype: 'fp32', runtime: 'onnxruntime' } as const;
    await engine.load({ source: { kind: 'path', path: folders.built }, ...load, warmupBudgetMs: 0 });
    // What ModelSession.warmUp generates: 'Hello', 32 tokens, EOS ignored, greedy.
    const warm = await engine.generate({ prompt: 'Hello', sampling: { maxNewTokens: 32, ignoreEos: true } });
    const user = await engine.generate(req([20, 21, 22], 6));
    const avoid = new Set([...warm.promptIds, 20, 21, 22, ...user.outputIds]);
    const at = warm.outputIds.findIndex(
      (t, i) => i >= 10 && !avoid.has(t) && !warm.outputIds.slice(0, i).includes(t),
    );
    expect(at).toBeGreaterThan(0);
    const bad = warm.outputIds[at] as number;
    const dir = folders.folder(`late-${bad}`, {
      [`onnx/${DTYPE_FILE.fp32}`]: patched('model.embed_tokens.weight', [[bad * 64, Number.NaN]]),
    });
    // Without the warm-up the same files load and answer the user's request as the clean model does.
    await engine.load({ source: { kind: 'path', path: dir }, ...load, warmupBudgetMs: 0 });
    expect((await engine.generate(req([20, 21, 22], 6))).outputIds).toEqual(user.outputIds);
    // With the default warm-up (as the app loads) the same files load too (they failed to, with
    // generation_failed and an answer's message: "token 12 of the answer").
    const outcome = await engine.load({ source: { kind: 'path', path: dir }, ...load }).then(
      () => 'loaded',
      (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
    );
    expect(outcome, `NaN at warm-up token ${at + 2}`).toBe('loaded');
  });
});
