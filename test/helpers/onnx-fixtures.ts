/**
 * Tiny decoder models for the ONNX graph tests: specs for each family, seeded random weights, and an
 * independent float64 forward pass (written from the Hugging Face modelling code, sharing nothing
 * with src/builder) to check the graphs against.
 */

import { MemoryWeights } from '../../src/builder/weights.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';

const base = {
  vocabSize: 300,
  hiddenSize: 64,
  intermediateSize: 96,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  maxPositionEmbeddings: 2048,
  tieWordEmbeddings: false,
  attentionBias: false,
  qkNorm: false,
} satisfies Omit<ModelSpec, 'family'>;

export const TINY_SPECS: Record<string, ModelSpec> = {
  'llama untied': { ...base, family: 'llama' },
  'llama tied, llama3 rope': {
    ...base,
    family: 'llama',
    tieWordEmbeddings: true,
    ropeTheta: 500000,
    ropeScaling: {
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 64,
    },
  },
  'qwen2 with bias': {
    ...base,
    family: 'qwen2',
    attentionBias: true,
    tieWordEmbeddings: true,
    ropeTheta: 1000000,
  },
  'qwen3 qk norm, head_dim 24': {
    ...base,
    family: 'qwen3',
    qkNorm: true,
    headDim: 24,
    numKvHeads: 1,
    rmsNormEps: 1e-6,
  },
};

export type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded weights with roughly the scales of a trained model (so softmax and SiLU are not flat). */
export function randomTensors(spec: ModelSpec, seed = 1): Tensors {
  const rnd = mulberry32(seed);
  const t: Tensors = new Map();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + (rnd() * 2 - 1) * scale;
    t.set(name, { shape, data });
  };
  const {
    hiddenSize: h,
    headDim: d,
    numHeads: nh,
    numKvHeads: kv,
    intermediateSize: ff,
    vocabSize: v,
  } = spec;
  add('model.embed_tokens.weight', [v, h], 1);
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [h], 0.2, 1);
    add(`${p}.self_attn.q_proj.weight`, [nh * d, h], 0.25);
    add(`${p}.self_attn.k_proj.weight`, [kv * d, h], 0.25);
    add(`${p}.self_attn.v_proj.weight`, [kv * d, h], 0.2);
    add(`${p}.self_attn.o_proj.weight`, [h, nh * d], 0.2);
    if (spec.attentionBias) {
      add(`${p}.self_attn.q_proj.bias`, [nh * d], 0.5);
      add(`${p}.self_attn.k_proj.bias`, [kv * d], 0.5);
      add(`${p}.self_attn.v_proj.bias`, [kv * d], 0.5);
    }
    if (spec.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [d], 0.2, 1);
      add(`${p}.self_attn.k_norm.weight`, [d], 0.2, 1);
    }
    add(`${p}.post_attention_layernorm.weight`, [h], 0.2, 1);
    add(`${p}.mlp.gate_proj.weight`, [ff, h], 0.25);
    add(`${p}.mlp.up_proj.weight`, [ff, h], 0.25);
    add(`${p}.mlp.down_proj.weight`, [h, ff], 0.2);
  }
  add('model.norm.weight', [h], 0.2, 1);
  if (!spec.tieWordEmbeddings) add('lm_head.weight', [v, h], 0.3);
  return t;
}

export const memoryWeights = (t: Tensors) => new MemoryWeights(t);

/** Names of the Linear weights (the ones quantised), the output head included. */
export function linearNames(spec: ModelSpec): string[] {
  const names: string[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    for (const x of ['q', 'k', 'v', 'o']) names.push(`${p}.self_attn.${x}_proj.weight`);
    for (const x of ['gate', 'up', 'down']) names.push(`${p}.mlp.${x}_proj.weight`);
  }
  return names;
}

function invFreq(spec: ModelSpec): number[] {
  const out: number[] = [];
  for (let i = 0; i < spec.headDim; i += 2) {
    let f = 1 / spec.ropeTheta ** (i / spec.headDim);
    const s = spec.ropeScaling;
    if (s) {
      const wavelen = (2 * Math.PI) / f;
      const lowWave = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highWave = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      if (wavelen > lowWave) f = f / s.factor;
      else if (wavelen >= highWave) {
        const smooth =
          (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        f = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
    out.push(Math.fround(f));
  }
  return out;
}

/** y[o] = sum_i x[i] w[o][i] (+ b[o]). */
function linear(x: Float64Array, w: Float32Array, out: number, bias?: Float32Array): Float64Array {
  const inn = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let acc = bias ? bias[o]! : 0;
    for (let i = 0; i < inn; i++) acc += x[i]! * w[o * inn + i]!;
    y[o] = acc;
  }
  return y;
}

function rms(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]!);
}

function ropeInPlace(x: Float64Array, offset: number, d: number, pos: number, freqs: number[]): void {
  const half = d / 2;
  for (let j = 0; j < half; j++) {
    const a = pos * freqs[j]!;
    const c = Math.cos(a);
    const s = Math.sin(a);
    const x1 = x[offset + j]!;
    const x2 = x[offset + j + half]!;
    x[offset + j] = x1 * c - x2 * s;
    x[offset + j + half] = x2 * c + x1 * s;
  }
}

/**
 * Logits [batch][seq][vocab] for whole sequences (no cache). Key j is visible to query i iff
 * j <= i and mask[j] is 1. `tensors` must hold `lm_head.weight` or the model must be tied.
 */
export function referenceLogits(
  spec: ModelSpec,
  t: Tensors,
  ids: number[][],
  mask: number[][],
  positions: number[][],
): number[][][] {
  const w = (n: string) => {
    const x = t.get(n);
    if (!x) throw new Error(`missing ${n}`);
    return x.data;
  };
  const {
    hiddenSize: H,
    headDim: D,
    numHeads: NH,
    numKvHeads: KV,
    intermediateSize: FF,
    vocabSize: V,
  } = spec;
  const freqs = invFreq(spec);
  const head = t.has('lm_head.weight') ? w('lm_head.weight') : w('model.embed_tokens.weight');
  return ids.map((row, b) => {
    const S = row.length;
    let hs: Float64Array[] = row.map((id) =>
      Float64Array.from(w('model.embed_tokens.weight').subarray(id * H, (id + 1) * H)),
    );
    for (let l = 0; l < spec.numLayers; l++) {
      const p = `model.layers.${l}`;
      const a = `${p}.self_attn`;
      const bias = (x: string) => (spec.attentionBias ? w(`${a}.${x}_proj.bias`) : undefined);
      const qs: Float64Array[] = [];
      const ks: Float64Array[] = [];
      const vs: Float64Array[] = [];
      for (let i = 0; i < S; i++) {
        const n = rms(hs[i]!, w(`${p}.input_layernorm.weight`), spec.rmsNormEps);
        const q = linear(n, w(`${a}.q_proj.weight`), NH * D, bias('q'));
        const k = linear(n, w(`${a}.k_proj.weight`), KV * D, bias('k'));
        const v = linear(n, w(`${a}.v_proj.weight`), KV * D, bias('v'));
        for (let h = 0; h < NH; h++) {
          if (spec.qkNorm)
            q.set(rms(q.subarray(h * D, (h + 1) * D), w(`${a}.q_norm.weight`), spec.rmsNormEps), h * D);
          ropeInPlace(q, h * D, D, positions[b]![i]!, freqs);
        }
        for (let h = 0; h < KV; h++) {
          if (spec.qkNorm)
            k.set(rms(k.subarray(h * D, (h + 1) * D), w(`${a}.k_norm.weight`), spec.rmsNormEps), h * D);
          ropeInPlace(k, h * D, D, positions[b]![i]!, freqs);
        }
        qs.push(q);
        ks.push(k);
        vs.push(v);
      }
      const next: Float64Array[] = [];
      for (let i = 0; i < S; i++) {
        const ctx = new Float64Array(NH * D);
        for (let h = 0; h < NH; h++) {
          const kh = Math.floor(h / (NH / KV));
          const visible: number[] = [];
          for (let j = 0; j <= i; j++) if (mask[b]![j]) visible.push(j);
          const keys = visible.length > 0 ? visible : Array.from({ length: S }, (_, j) => j);
          const scores = keys.map((j) => {
            let s = 0;
            for (let e = 0; e < D; e++) s += qs[i]![h * D + e]! * ks[j]![kh * D + e]!;
            return s / Math.sqrt(D);
          });
          const max = Math.max(...scores);
          const ex = scores.map((s) => Math.exp(s - max));
          const sum = ex.reduce((x, y) => x + y, 0);
          keys.forEach((j, n) => {
            for (let e = 0; e < D; e++) ctx[h * D + e]! += (ex[n]! / sum) * vs[j]![kh * D + e]!;
          });
        }
        const o = linear(ctx, w(`${a}.o_proj.weight`), H);
        const h1 = hs[i]!.map((x, e) => x + o[e]!);
        const n2 = rms(h1, w(`${p}.post_attention_layernorm.weight`), spec.rmsNormEps);
        const gate = linear(n2, w(`${p}.mlp.gate_proj.weight`), FF);
        const up = linear(n2, w(`${p}.mlp.up_proj.weight`), FF);
        const act = gate.map((g, e) => (g / (1 + Math.exp(-g))) * up[e]!);
        const down = linear(act, w(`${p}.mlp.down_proj.weight`), H);
        next.push(h1.map((x, e) => x + down[e]!));
      }
      hs = next;
    }
    return hs.map((x) => [...linear(rms(x, w('model.norm.weight'), spec.rmsNormEps), head, V)]);
  });
}

/**
 * The weights a quantised dtype actually computes with, as float32: Linear weights and the output
 * head through the dtype's round trip, the embedding table through the 8-bit row layout.
 */
export function effectiveTensors(
  spec: ModelSpec,
  t: Tensors,
  dtype: string,
  roundTrips: {
    q4: (w: Float32Array, r: number, c: number) => Float32Array;
    q8: (w: Float32Array, r: number, c: number) => Float32Array;
  },
): Tensors {
  if (dtype !== 'q8' && dtype !== 'q4' && dtype !== 'q4f16') return t;
  const fn = dtype === 'q8' ? roundTrips.q8 : roundTrips.q4;
  const out: Tensors = new Map(t);
  const through = (src: { shape: number[]; data: Float32Array }, f: typeof fn) => ({
    shape: src.shape,
    data: f(src.data, src.shape[0]!, src.shape[1]!),
  });
  for (const n of linearNames(spec)) out.set(n, through(t.get(n)!, fn));
  const embed = t.get('model.embed_tokens.weight')!;
  out.set('lm_head.weight', through(t.get('lm_head.weight') ?? embed, fn));
  out.set('model.embed_tokens.weight', through(embed, roundTrips.q8));
  return out;
}
