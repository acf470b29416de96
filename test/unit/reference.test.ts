/**
 * Properties of the reference forward pass that hold whatever the weights: causality, tied = untied
 * with a copied head, grouped-query attention = multi-head attention with repeated K/V heads, and
 * Llama 3 RoPE scaling by frequency band. Its agreement with the ONNX graph is in golden.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RandomWeights } from '../../src/builder/random-weights.ts';
import { MemoryWeights, type WeightSource } from '../../src/builder/weights.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { ReferenceModel, ropeInverseFrequencies, topTwo } from '../../src/reference/forward.ts';

const base: ModelSpec = {
  family: 'qwen3',
  vocabSize: 50,
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 8,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: null,
  maxPositionEmbeddings: 64,
  tieWordEmbeddings: true,
  attentionBias: true,
  qkNorm: true,
};

async function toMemory(source: WeightSource, rename: (name: string) => string[] = (n) => [n]) {
  const map = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const name of source.names()) {
    for (const target of rename(name))
      map.set(target, { shape: source.shape(name), data: await source.read(name) });
  }
  return map;
}

const ids = [3, 17, 5, 42, 8, 8, 1];

describe('reference forward pass', () => {
  it('sliding window: a window as long as the input changes nothing; a window of w ignores older keys', async () => {
    const weights = new RandomWeights(base, { seed: 4, normJitter: 0.2, biasStd: 0.3 });
    const full = await ReferenceModel.load(base, weights);
    const wide = await ReferenceModel.load(
      { ...base, slidingWindow: { size: ids.length, layers: [true, true] } },
      weights,
    );
    expect(Array.from(wide.forward(ids))).toEqual(Array.from(full.forward(ids)));
    // One layer with a window of w: the logits at t depend on ids[t - w + 1 .. t] alone.
    const one = { ...base, numLayers: 1, slidingWindow: { size: 1, layers: [true] } };
    const oneLayer = await ReferenceModel.load(
      one,
      new RandomWeights(one, { seed: 5, normJitter: 0.2, biasStd: 0.3 }),
    );
    const a = oneLayer.lastLogits([3, 17, 5]);
    const b = oneLayer.lastLogits([9, 30, 5]);
    expect(Array.from(a)).toEqual(Array.from(b));
    const two = { ...one, slidingWindow: { size: 2, layers: [true] } };
    const twoLayer = await ReferenceModel.load(
      two,
      new RandomWeights(two, { seed: 5, normJitter: 0.2, biasStd: 0.3 }),
    );
    expect(Array.from(twoLayer.lastLogits([3, 17, 5]))).toEqual(Array.from(twoLayer.lastLogits([9, 17, 5])));
    expect(Array.from(twoLayer.lastLogits([3, 17, 5]))).not.toEqual(
      Array.from(twoLayer.lastLogits([3, 30, 5])),
    );
  });

  it('is causal: appending tokens does not change earlier logits', async () => {
    const model = await ReferenceModel.load(
      base,
      new RandomWeights(base, { seed: 3, normJitter: 0.2, biasStd: 0.3 }),
    );
    const short = model.forward(ids.slice(0, 4));
    const long = model.forward(ids);
    expect(Array.from(long.subarray(0, short.length))).toEqual(Array.from(short));
  });

  it('gives the same logits tied, and untied with lm_head copied from the embedding', async () => {
    const weights = new RandomWeights(base, { seed: 4 });
    const tied = await ReferenceModel.load(base, weights);
    const map = await toMemory(weights, (n) =>
      n === 'model.embed_tokens.weight' ? [n, 'lm_head.weight'] : [n],
    );
    const untied = await ReferenceModel.load({ ...base, tieWordEmbeddings: false }, new MemoryWeights(map));
    expect(Array.from(untied.forward(ids))).toEqual(Array.from(tied.forward(ids)));
  });

  it('treats grouped-query attention as multi-head attention with each K/V head repeated', async () => {
    const gqa = { ...base, attentionBias: false, qkNorm: false, family: 'llama' as const };
    const weights = new RandomWeights(gqa, { seed: 5, normJitter: 0.2 });
    const map = await toMemory(weights);
    const group = gqa.numHeads / gqa.numKvHeads;
    for (let l = 0; l < gqa.numLayers; l++) {
      for (const p of ['k_proj', 'v_proj']) {
        const name = `model.layers.${l}.self_attn.${p}.weight`;
        const { data } = map.get(name)!;
        const rowBlock = gqa.headDim * gqa.hiddenSize;
        const repeated = new Float32Array(data.length * group);
        for (let kv = 0; kv < gqa.numKvHeads; kv++) {
          for (let g = 0; g < group; g++) {
            repeated.set(data.subarray(kv * rowBlock, (kv + 1) * rowBlock), (kv * group + g) * rowBlock);
          }
        }
        map.set(name, { shape: [gqa.numHeads * gqa.headDim, gqa.hiddenSize], data: repeated });
      }
    }
    const mha = { ...gqa, numKvHeads: gqa.numHeads };
    const a = (await ReferenceModel.load(gqa, weights)).forward(ids);
    const b = (await ReferenceModel.load(mha, new MemoryWeights(map))).forward(ids);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5);
  });

  it('scales RoPE frequencies like Llama 3: high band kept, low band divided by factor, middle blended', () => {
    // Llama 3.2 1B's settings.
    const spec: ModelSpec = {
      ...base,
      family: 'llama',
      headDim: 64,
      ropeTheta: 500000,
      ropeScaling: {
        type: 'llama3',
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
    };
    const scaled = ropeInverseFrequencies(spec);
    const plain = ropeInverseFrequencies({ ...spec, ropeScaling: null });
    expect(plain[1]).toBeCloseTo(500000 ** (-2 / 64), 12);
    let sawMiddle = false;
    for (let i = 0; i < plain.length; i++) {
      const wavelen = (2 * Math.PI) / plain[i]!;
      if (wavelen < 8192 / 4) expect(scaled[i]).toBe(plain[i]);
      else if (wavelen > 8192) expect(scaled[i]).toBeCloseTo(plain[i]! / 32, 15);
      else {
        sawMiddle = true;
        expect(scaled[i]).toBeLessThan(plain[i]!);
        expect(scaled[i]).toBeGreaterThan(plain[i]! / 32);
      }
    }
    expect(sawMiddle).toBe(true);
  });

  it('greedy picks the arg-max and reports the margin to the runner-up', async () => {
    expect(topTwo(Float32Array.from([0.1, 2, 1.5, -1]))).toEqual({ token: 1, runnerUp: 2, margin: 0.5 });
    const model = await ReferenceModel.load(base, new RandomWeights(base, { seed: 6 }));
    const steps = model.greedy([1, 2, 3], 5, []);
    expect(steps).toHaveLength(5);
    const seq = [1, 2, 3];
    for (const step of steps) {
      expect(step.token).toBe(topTwo(model.lastLogits(seq)).token);
      seq.push(step.token);
    }
    const first = steps[0]!.token;
    expect(model.greedy([1, 2, 3], 5, [first])).toHaveLength(1);
  });
});
