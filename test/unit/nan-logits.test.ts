/**
 * A step whose logits hold NaN is refused by name (generation_failed) on both runtimes, greedy and
 * sampled, where before the answer went on with whatever the argmax or the draw made of NaN: token 0
 * every step, silently. Two real ways in, through NodeEngine on a converted tiny llama: a NaN in the
 * final norm's weights (written into the converted ONNX file, since the converter refuses a damaged
 * checkpoint), and f16 weights whose arithmetic overflows where the same checkpoint in f32 does not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dtype } from '../../src/core/dtypes.ts';
import { DTYPE_FILE } from '../../src/core/dtypes.ts';
import type { SamplingOptions } from '../../src/core/engine.ts';
import { type ConvertedFolders, convertedFolders } from '../helpers/converted-folders.ts';
import { nodeAnswer } from '../helpers/node-answer.ts';
import { onnxWithFloats } from '../helpers/onnx-floats.ts';

const NAN_AT_FIRST_TOKEN =
  "The model's scores for token 1 of the answer are not numbers (NaN), so no next token can be chosen: its arithmetic overflowed (as f16 weights on a GPU can) or its weights are damaged. Try another weight format (dtype) or device.";

let root: string;
let folders: ConvertedFolders;
/** A copy of the converted folder whose final norm weight 0 is NaN in the fp32 and q4 files. */
let nanNorm: string;
/** The same checkpoint with every Linear weight 100 times larger, in f32 and f16. */
let large: ConvertedFolders;

/** The ONNX file of `dtype` with model.norm.weight[0] set to NaN. */
const withNanNorm = (dir: string, dtype: Dtype) =>
  onnxWithFloats(dir, dtype, { 'model.norm.weight': [[0, Number.NaN]] });

async function answer(
  runtime: 'edgetier' | 'onnxruntime',
  dir: string,
  dtype: Dtype,
  sampling: SamplingOptions = {},
) {
  return nodeAnswer(runtime, dir, {
    prompt: 'Once upon a time',
    dtype,
    sampling: { maxNewTokens: 4, ignoreEos: true, ...sampling },
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-nan-logits-'));
  folders = await convertedFolders(join(root, 'plain'), 'fp32,q4', { tied: false, seed: 21 });
  nanNorm = folders.folder('nan-norm', {
    [`onnx/${DTYPE_FILE.fp32}`]: withNanNorm(folders.built, 'fp32'),
    [`onnx/${DTYPE_FILE.q4}`]: withNanNorm(folders.built, 'q4'),
  });
  large = await convertedFolders(join(root, 'large'), 'fp32,fp16', {
    tied: false,
    seed: 21,
    linearScale: 100,
  });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a NaN in the weights: both runtimes refuse the step', () => {
  it.each([
    ['edgetier', 'fp32'],
    ['edgetier', 'q4'],
    // Not ORT's q4: its MatMulNBits at accuracy_level 4 quantizes the NaN activations to int8 and
    // returns finite (wrong) scores, which no check of the logits can see.
    ['onnxruntime', 'fp32'],
  ] as const)('%s %s, greedy and sampled', async (runtime, dtype) => {
    // The untouched folder answers: the refusal is the NaN's, not the model's or the dtype's.
    expect((await answer(runtime, folders.built, dtype)).outputIds).toHaveLength(4);
    for (const sampling of [{}, { temperature: 0.8 }, { temperature: 0.8, topP: 0.9, topK: 5 }]) {
      await expect(answer(runtime, nanNorm, dtype, sampling)).rejects.toMatchObject({
        code: 'generation_failed',
        message: NAN_AT_FIRST_TOKEN,
      });
    }
  });
});

describe('f16 weights whose arithmetic overflows', () => {
  it('ORT refuses the fp16 step by name; the same checkpoint in fp32 answers', async () => {
    expect((await answer('onnxruntime', large.built, 'fp32')).outputIds).toHaveLength(4);
    await expect(answer('onnxruntime', large.built, 'fp16')).rejects.toMatchObject({
      code: 'generation_failed',
      message: NAN_AT_FIRST_TOKEN,
    });
  });
});
