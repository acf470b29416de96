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
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { buildDecoderModel } from '../../src/builder/graph/decoder.ts';
import { q4RoundTrip, q8RoundTrip } from '../../src/builder/quantize.ts';
import { dtypePlan, writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { DTYPES, type Dtype } from '../../src/core/dtypes.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
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

/** Row 0 of IDS through onnxruntime-web (WASM, one thread) with an empty cache: its logits. */
async function webLogits(spec: ModelSpec, file: string): Promise<Float32Array> {
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(file);
  try {
    const ids = IDS[0]!;
    const int64 = (values: number[]) =>
      new ortWeb.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
    const feeds: Record<string, ortWeb.Tensor> = {
      input_ids: int64(ids),
      attention_mask: int64(ids.map(() => 1)),
      position_ids: int64(ids.map((_, i) => i)),
      num_logits_to_keep: new ortWeb.Tensor('int64', BigInt64Array.from([0n]), []),
    };
    for (let i = 0; i < spec.numLayers; i++)
      for (const kind of ['key', 'value'])
        feeds[`past_key_values.${i}.${kind}`] = new ortWeb.Tensor('float32', new Float32Array(0), [
          1,
          spec.numKvHeads,
          0,
          spec.headDim,
        ]);
    return (await session.run(feeds)).logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

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

  it('q8 weights wider than the column limit run as slices, with bit-identical logits (node and web)', async () => {
    const max = 40; // every Linear of the tiny specs is wider
    const write = (name: string, q8MaxColumns: number) =>
      writeOnnxModel(spec, memoryWeights(tensors), 'q8', join(dir, name), { q8MaxColumns });
    const split = await write('q8-split', max);
    const whole = await write('q8-whole', Number.POSITIVE_INFINITY);

    const nodes = buildDecoderModel(spec, memoryWeights(tensors), dtypePlan('q8', 4, max)).graph.nodes;
    const slices = (columns: number) => Math.ceil(columns / max);
    const qkvColumns = (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim;
    const perLayer =
      slices(qkvColumns) +
      slices(spec.hiddenSize) +
      slices(2 * spec.intermediateSize) +
      slices(spec.hiddenSize);
    expect(nodes.filter((n) => n.opType === 'MatMulInteger')).toHaveLength(
      spec.numLayers * perLayer + slices(spec.vocabSize),
    );

    const native = async (file: string) =>
      (await step(await ort.InferenceSession.create(file), IDS, MASK, POS, emptyPast(spec, 2, false))).logits;
    expect(await native(split.file)).toEqual(await native(whole.file));
    // onnxruntime-web's WASM build (in Node) is where the slices pay off; same integers there too.
    expect(await webLogits(spec, split.file)).toEqual(await webLogits(spec, whole.file));
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
