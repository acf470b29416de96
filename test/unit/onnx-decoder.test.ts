/**
 * The decoder graph against an independent float64 forward pass, per family and dtype, and the KV
 * cache against whole-sequence runs (one token at a time, and a 3-token chunk on a 4-token past),
 * num_logits_to_keep against the full logits,
 * with a left-padded second row in every batch.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { q4RoundTrip, q8RoundTrip } from '../../src/builder/quantize.ts';
import { writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { DTYPES, type Dtype } from '../../src/core/dtypes.ts';
import {
  effectiveTensors,
  memoryWeights,
  randomTensors,
  referenceLogits,
  TINY_SPECS,
} from '../helpers/onnx-fixtures.ts';
import { emptyPast, maxDiff, step } from '../helpers/onnx-session.ts';

// Row 0: seven tokens. Row 1: two pads then five tokens (positions as transformers.js computes them).
const IDS = [
  [5, 17, 250, 3, 99, 42, 7],
  [0, 0, 120, 64, 8, 299, 31],
];
const MASK = [
  [1, 1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1, 1],
];
const POS = [
  [0, 1, 2, 3, 4, 5, 6],
  [1, 1, 0, 1, 2, 3, 4],
];

/** Largest allowed |onnx - reference| as a fraction of the largest reference logit. */
const REFERENCE_TOLERANCE: Record<Dtype, number> = {
  fp32: 1e-5,
  fp16: 5e-3,
  q8: 5e-2, // activations quantised at run time (not modelled by q8RoundTrip)
  q4: 5e-2, // accuracy_level 4: int8 activations inside MatMulNBits
  q4f16: 5e-2,
};
/**
 * Cached vs whole-sequence runs of the same file. q8's activation scale is computed over all the
 * tokens of a run, so its cached and uncached runs legitimately differ (FACTS.md).
 */
const CACHE_TOLERANCE: Record<Dtype, number> = { fp32: 1e-5, fp16: 2e-3, q8: 1e-1, q4: 1e-5, q4f16: 2e-3 };

const slice = (rows: number[][], from: number, to: number) => rows.map((r) => r.slice(from, to));

describe.each(Object.entries(TINY_SPECS))('%s', (_label, spec) => {
  const tensors = randomTensors(spec, 7);
  const dir = mkdtempSync(join(tmpdir(), 'edgetier-onnx-'));

  it.each(DTYPES)('%s: logits match the reference forward pass and the KV cache agrees', async (dtype) => {
    const result = await writeOnnxModel(spec, memoryWeights(tensors), dtype, join(dir, dtype));
    expect(result.externalDataFile).toBeUndefined();
    const session = await ort.InferenceSession.create(result.file);
    const half = dtype === 'fp16' || dtype === 'q4f16';
    const whole = await step(session, IDS, MASK, POS, emptyPast(spec, 2, half));

    const reference = referenceLogits(
      spec,
      effectiveTensors(spec, tensors, dtype, { q4: q4RoundTrip, q8: q8RoundTrip }),
      IDS,
      MASK,
      POS,
    );
    const vsReference = maxDiff(whole.logits, reference, MASK);
    expect(vsReference.diff).toBeLessThanOrEqual(REFERENCE_TOLERANCE[dtype] * vsReference.scale);

    // num_logits_to_keep = 2: the head runs on the last two positions only, with the same values.
    const lastTwo = await step(session, IDS, MASK, POS, emptyPast(spec, 2, half), 2);
    expect(lastTwo.logits.map((rows) => rows.length)).toEqual([2, 2]);
    const vsLastTwo = maxDiff(
      lastTwo.logits,
      whole.logits.map((rows) => rows.slice(-2)),
      MASK.map((row) => row.slice(-2)),
    );
    expect(vsLastTwo.diff).toBeLessThanOrEqual(CACHE_TOLERANCE[dtype] * vsLastTwo.scale);

    // One token at a time.
    let past = emptyPast(spec, 2, half);
    const single: number[][][] = [[], []];
    for (let t = 0; t < IDS[0]!.length; t++) {
      const r = await step(session, slice(IDS, t, t + 1), slice(MASK, 0, t + 1), slice(POS, t, t + 1), past);
      past = r.past;
      r.logits.forEach((rows, b) => {
        single[b]!.push(rows[0]!);
      });
    }
    expect(past['past_key_values.0.key']!.dims).toEqual([2, spec.numKvHeads, 7, spec.headDim]);
    const vsSingle = maxDiff(single, whole.logits, MASK);
    expect(vsSingle.diff).toBeLessThanOrEqual(CACHE_TOLERANCE[dtype] * vsSingle.scale);

    // A chunk of three new tokens on top of a past of four.
    const first = await step(
      session,
      slice(IDS, 0, 4),
      slice(MASK, 0, 4),
      slice(POS, 0, 4),
      emptyPast(spec, 2, half),
    );
    const chunk = await step(session, slice(IDS, 4, 7), MASK, slice(POS, 4, 7), first.past);
    const joined = first.logits.map((rows, b) => [...rows, ...chunk.logits[b]!]);
    const vsChunk = maxDiff(joined, whole.logits, MASK);
    expect(vsChunk.diff).toBeLessThanOrEqual(CACHE_TOLERANCE[dtype] * vsChunk.scale);
  });

  it('q4 computed in float (accuracy_level 0) matches the reference on q4RoundTrip weights', async () => {
    const result = await writeOnnxModel(spec, memoryWeights(tensors), 'q4', join(dir, 'q4-exact'), {
      q4AccuracyLevel: 0,
    });
    const session = await ort.InferenceSession.create(result.file);
    const { logits } = await step(session, IDS, MASK, POS, emptyPast(spec, 2, false));
    const reference = referenceLogits(
      spec,
      effectiveTensors(spec, tensors, 'q4', { q4: q4RoundTrip, q8: q8RoundTrip }),
      IDS,
      MASK,
      POS,
    );
    const { diff, scale } = maxDiff(logits, reference, MASK);
    expect(diff).toBeLessThanOrEqual(1e-5 * scale);
  });
});
