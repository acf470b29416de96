/**
 * Settings at their edges, through NodeEngine (`generate --device cpu`) on a converted tiny llama: a
 * tiny positive temperature and a +Infinity logit (both runtimes apply the temperature with
 * applyTemperature), generation_config.json defaults (a value the CPU engine cannot honour, a null
 * top_k), a config.json that is not an object. Found by a hostile review; each test
 * failed before its fix.
 */
import { Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateResult, SamplingOptions } from '../../src/core/engine.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { generationDefaults } from '../../src/cpu-engine/cpu-generator.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { DEFAULT_TOP_K, sampleToken } from '../../src/runtime/sampling.ts';
import { TemperatureLogitsProcessor } from '../../src/runtime/transformers-generator.ts';
import {
  SETTINGS_CHECKPOINT,
  type TempConvertedFolders,
  tempConvertedFolders,
} from '../helpers/converted-folders.ts';
import { nodeAnswer } from '../helpers/node-answer.ts';

const PROMPT = 'The quick brown fox jumps over the lazy dog. Once upon a time';

let folders: TempConvertedFolders;

beforeAll(async () => {
  folders = await tempConvertedFolders('edgetier-settings-edges-', 'fp32,q8,q4', SETTINGS_CHECKPOINT);
});

afterAll(async () => {
  await folders?.remove();
});

const answer = (
  runtime: 'edgetier' | 'onnxruntime',
  dir: string,
  dtype: 'fp32' | 'q8' | 'q4',
  sampling: SamplingOptions,
): Promise<GenerateResult> =>
  nodeAnswer(runtime, dir, { prompt: PROMPT, dtype, sampling: { maxNewTokens: 12, ...sampling } });

describe('a tiny positive temperature is greedy', () => {
  // checkSampling lets every finite temperature >= 0 through, and 1e-9 is greedy (cpu-runtime.test.ts).
  // Below ~1e-38, float32 logits divided by it were +-Infinity: every weight exp(Inf - Inf) = NaN, and
  // the draw returned the LAST of the top-k (the 50th most likely token) at every step, on both runtimes.
  it.each([
    ['edgetier', 'fp32', 1e-39],
    ['edgetier', 'q8', 1e-39],
    ['edgetier', 'q4', 1e-45],
    ['edgetier', 'fp32', Number.MIN_VALUE],
    ['onnxruntime', 'fp32', 1e-39],
  ] as const)('%s %s, temperature %s', async (runtime, dtype, temperature) => {
    const greedy = await answer(runtime, folders.built, dtype, {});
    const tiny = await answer(runtime, folders.built, dtype, { temperature });
    expect(tiny.outputIds).toEqual(greedy.outputIds);
  });
});

describe('generation_config.json defaults the CPU engine cannot honour are refused, not replaced', () => {
  // They were replaced by their defaults (1, 50) without a word, while onnxruntime-node applied a
  // repetition_penalty of 0: the same folder and request gave other tokens on the two runtimes.
  const generationConfig = (extra: Record<string, unknown>) =>
    JSON.stringify({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, ...extra });
  it.each([
    ['repetition_penalty', 0, 'a finite penalty above 0 only'],
    ['repetition_penalty', -1, 'a finite penalty above 0 only'],
    ['repetition_penalty', '1.1', 'a finite penalty above 0 only'],
    ['top_k', 2.5, 'a whole number (0 or less keeps every token) only'],
    ['top_k', '50', 'a whole number (0 or less keeps every token) only'],
  ] as const)('%s = %j', async (field, value, rule) => {
    const dir = folders.folder(`${field}-${String(value)}`, {
      'generation_config.json': generationConfig({ [field]: value }),
    });
    const error = await answer('edgetier', dir, 'fp32', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as EdgetierError).code).toBe('unsupported_architecture');
    expect((error as EdgetierError).message).toBe(
      `generation_config.json sets ${field} = ${JSON.stringify(value)}; edgetier's CPU engine takes ${rule}: run this model on onnxruntime.`,
    );
  });

  it('nulls load: a null penalty is 1, so greedy gives the tokens of a file without the fields', async () => {
    const dir = folders.folder('nulls', {
      'generation_config.json': generationConfig({ repetition_penalty: null, top_k: null }),
    });
    const plain = folders.folder('plain', { 'generation_config.json': generationConfig({}) });
    const withNulls = await answer('edgetier', dir, 'fp32', {});
    expect(withNulls.outputIds).toEqual((await answer('edgetier', plain, 'fp32', {})).outputIds);
  });
});

describe('a config.json that is JSON null is refused by name, not with a raw TypeError', () => {
  // Observed: load_failed "Could not load … on cpu (fp32): Cannot read properties of null (reading
  // 'model_type'). Try another dtype or device." (an array gets "config.json has no model_type").
  it('config.json = null', async () => {
    const dir = folders.folder('config-null', { 'config.json': 'null' });
    const engine = new NodeEngine({ runtime: 'edgetier' });
    const error = await engine
      .load({ source: { kind: 'path', path: dir }, device: 'cpu', dtype: 'fp32' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as EdgetierError).code).toBe('unsupported_architecture');
    expect((error as EdgetierError).message).toBe(
      'config.json holds null, not an object of settings; edgetier supports llama, qwen2, qwen3.',
    );
  });
});

describe("generation_config.json's top_k null is no top-k on both runtimes", () => {
  // The CPU engine read null as its default 50 and ORT's top-p path (defaultTopK) did too, while
  // transformers.js's sampler (and Python transformers) read it as no top-k: one folder, two answers.
  it('the CPU engine: null or below 0 is 0, absent is 50, a number is itself', () => {
    expect(generationDefaults({ top_k: null }).topK).toBe(0);
    expect(generationDefaults({ top_k: -3 }).topK).toBe(0);
    expect(generationDefaults({}).topK).toBe(DEFAULT_TOP_K);
    expect(generationDefaults({ top_k: 7 }).topK).toBe(7);
  });

  it.each([1, 0.999999])('onnxruntime at top-p %s: null samples as top_k 0, not as 50', async (topP) => {
    const generationConfig = (topK: number | null) =>
      JSON.stringify({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, top_k: topK });
    const drawn = async (topK: number | null) => {
      const dir = folders.folder(`ort-top-k-${topK}`, { 'generation_config.json': generationConfig(topK) });
      const sampling = { maxNewTokens: 24, ignoreEos: true, temperature: 50, topP };
      return (await nodeAnswer('onnxruntime', dir, { prompt: PROMPT, sampling, seed: 7 })).outputIds;
    };
    const unset = await drawn(null);
    expect(unset).toEqual(await drawn(0));
    expect(unset).not.toEqual(await drawn(50));
  });
});

describe('a +Infinity logit (an fp16 overflow) takes every draw, as greedy takes it', () => {
  // The shift by the largest logit was skipped for +Infinity: exp(Infinity - Infinity) = NaN weights,
  // and the draw returned the last of the top-k.
  it('sampleToken', () => {
    const draw = (logits: number[], r: number) =>
      sampleToken(Float32Array.from(logits), { temperature: 0.7, topK: 50, topP: 1 }, () => r);
    expect([0, 0.5, 0.99].map((r) => draw([1, Infinity, 2, 3], r))).toEqual([1, 1, 1]);
    // Two share the weight, in the top-k's order.
    expect([0, 0.99].map((r) => draw([Infinity, 0, Infinity], r)).sort()).toEqual([0, 2]);
  });

  it("the onnxruntime path's TemperatureLogitsProcessor", () => {
    const logits = new Tensor('float32', Float32Array.from([1, Infinity, 2, -Infinity]), [1, 4]);
    const out = new TemperatureLogitsProcessor(0.7)([[0n]], logits) as Tensor;
    expect(Array.from(out.data as Float32Array)).toEqual([-Infinity, 0, -Infinity, -Infinity]);
  });
});
