/**
 * An independent reference forward pass for the decoder families edgetier builds, in plain
 * TypeScript on typed arrays: no ONNX, no KV cache, every position recomputed on every step. It
 * follows Hugging Face's modeling_llama / modeling_qwen2 / modeling_qwen3:
 *
 *   x = embed[ids]
 *   per layer:  h = RMSNorm(x);  q,k,v = h·Wqᵀ(+b), h·Wkᵀ(+b), h·Wvᵀ(+b)
 *               (qwen3) q,k = RMSNorm over head_dim per head
 *               q,k = q·cos + rotate_half(q)·sin   (RoPE, llama3 frequency scaling if configured)
 *               attn = softmax(q·kᵀ/√d + causal mask)·v, kv head = head / (heads / kv_heads)
 *               (sliding layers, qwen3) keys limited to the last `sliding_window` positions
 *               x += attn·Woᵀ;  x += down(silu(gate(RMSNorm(x))) * up(RMSNorm(x)))
 *   logits = RMSNorm(x)·headᵀ   (head = embed when tied)
 *
 * It shares nothing with the graph builder but the parsed ModelSpec and the WeightSource it reads
 * tensors through. Sums run in double precision and are stored as float32 after each operation.
 */

import type { WeightSource } from '../builder/weights.ts';
import type { ModelSpec } from '../core/model-spec.ts';

interface Layer {
  inputNorm: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  qBias: Float32Array | null;
  kBias: Float32Array | null;
  vBias: Float32Array | null;
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
  o: Float32Array;
  postNorm: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

/** One greedy step: the token picked and how far ahead of the runner-up it was. */
export interface GreedyStep {
  token: number;
  runnerUp: number;
  /** top-1 logit minus top-2 logit: near 0 means a near-tie another runtime may break differently. */
  margin: number;
}

/** Inverse RoPE frequencies, with Llama 3's frequency-dependent scaling when configured. */
export function ropeInverseFrequencies(spec: ModelSpec): Float64Array {
  const half = spec.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / spec.ropeTheta ** ((2 * i) / spec.headDim);
  const s = spec.ropeScaling;
  if (!s) return inv;
  // transformers' _compute_llama3_parameters.
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = inv[i]!;
    const wavelen = (2 * Math.PI) / f;
    let scaled = wavelen > lowFreqWavelen ? f / s.factor : f;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (isMedium) {
      const smooth =
        (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      scaled = ((1 - smooth) * scaled) / s.factor + smooth * scaled;
    }
    inv[i] = scaled;
  }
  return inv;
}

/** out[rows, outDim] = x[rows, inDim] · Wᵀ (+ bias), W stored [outDim, inDim] as in PyTorch. */
function linear(
  x: Float32Array,
  rows: number,
  w: Float32Array,
  bias: Float32Array | null,
  outDim: number,
): Float32Array {
  const inDim = w.length / outDim;
  const out = new Float32Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const xo = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let sum = 0;
      for (let i = 0; i < inDim; i++) sum += x[xo + i]! * w[wo + i]!;
      out[r * outDim + o] = sum + (bias ? bias[o]! : 0);
    }
  }
  return out;
}

/** RMSNorm over consecutive groups of `width` values: x · rsqrt(mean(x²) + eps) · weight. */
function rmsNorm(x: Float32Array, width: number, weight: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let start = 0; start < x.length; start += width) {
    let sq = 0;
    for (let i = 0; i < width; i++) sq += x[start + i]! * x[start + i]!;
    // HF computes the normalised value in float32, then multiplies by the weight.
    const scale = 1 / Math.sqrt(sq / width + eps);
    for (let i = 0; i < width; i++) out[start + i] = Math.fround(x[start + i]! * scale) * weight[i]!;
  }
  return out;
}

function silu(v: number): number {
  return v / (1 + Math.exp(-v));
}

export interface ReferenceOptions {
  /**
   * 'int8': every key (after RoPE) and value vector of a position and kv head is replaced by its int8
   * round trip as edgetier's CPU engine stores it in an int8 cache: scale m / 127 (m its largest |x|,
   * in float32), codes round-half-even(x / scale) within ±127, value code × scale. Default 'float32'
   * (no rounding: the model as written).
   */
  kvCache?: 'float32' | 'int8';
}

export class ReferenceModel {
  private readonly invFreq: Float64Array;

  private constructor(
    readonly spec: ModelSpec,
    private readonly embed: Float32Array,
    private readonly layers: Layer[],
    private readonly finalNorm: Float32Array,
    private readonly head: Float32Array,
    private readonly kvInt8: boolean,
  ) {
    this.invFreq = ropeInverseFrequencies(spec);
  }

  /** Reads every tensor the spec needs (small models only: they are held in memory). */
  static async load(
    spec: ModelSpec,
    weights: WeightSource,
    options: ReferenceOptions = {},
  ): Promise<ReferenceModel> {
    const read = (name: string) => weights.read(name);
    const optional = async (name: string, wanted: boolean) => (wanted ? read(name) : null);
    const layers: Layer[] = [];
    for (let i = 0; i < spec.numLayers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        inputNorm: await read(`${p}.input_layernorm.weight`),
        q: await read(`${p}.self_attn.q_proj.weight`),
        k: await read(`${p}.self_attn.k_proj.weight`),
        v: await read(`${p}.self_attn.v_proj.weight`),
        qBias: await optional(`${p}.self_attn.q_proj.bias`, spec.attentionBias),
        kBias: await optional(`${p}.self_attn.k_proj.bias`, spec.attentionBias),
        vBias: await optional(`${p}.self_attn.v_proj.bias`, spec.attentionBias),
        qNorm: await optional(`${p}.self_attn.q_norm.weight`, spec.qkNorm),
        kNorm: await optional(`${p}.self_attn.k_norm.weight`, spec.qkNorm),
        o: await read(`${p}.self_attn.o_proj.weight`),
        postNorm: await read(`${p}.post_attention_layernorm.weight`),
        gate: await read(`${p}.mlp.gate_proj.weight`),
        up: await read(`${p}.mlp.up_proj.weight`),
        down: await read(`${p}.mlp.down_proj.weight`),
      });
    }
    const embed = await read('model.embed_tokens.weight');
    const head = spec.tieWordEmbeddings ? embed : await read('lm_head.weight');
    return new ReferenceModel(
      spec,
      embed,
      layers,
      await read('model.norm.weight'),
      head,
      options.kvCache === 'int8',
    );
  }

  /** Logits for every position of `ids`: a [ids.length × vocab] row-major array. */
  forward(ids: readonly number[]): Float32Array {
    const { hiddenSize: h, vocabSize } = this.spec;
    const n = ids.length;
    let x: Float32Array = new Float32Array(n * h);
    for (let t = 0; t < n; t++) {
      const id = ids[t]!;
      if (!(id >= 0 && id < vocabSize)) throw new RangeError(`token id ${id} is outside the vocabulary`);
      x.set(this.embed.subarray(id * h, (id + 1) * h), t * h);
    }
    for (const [i, layer] of this.layers.entries()) x = this.layer(layer, x, n, this.windowOf(i));
    const normed = rmsNorm(x, h, this.finalNorm, this.spec.rmsNormEps);
    return linear(normed, n, this.head, null, vocabSize);
  }

  /** Logits of the last position only. */
  lastLogits(ids: readonly number[]): Float32Array {
    const all = this.forward(ids);
    const v = this.spec.vocabSize;
    return all.slice(all.length - v);
  }

  /**
   * Greedy decoding without a cache: each step reruns the whole sequence. Stops after `maxNewTokens`
   * or right after emitting one of `eosIds` (which is kept, as generate() keeps it).
   */
  greedy(promptIds: readonly number[], maxNewTokens: number, eosIds: readonly number[] = []): GreedyStep[] {
    const ids = [...promptIds];
    const steps: GreedyStep[] = [];
    for (let s = 0; s < maxNewTokens; s++) {
      const step = topTwo(this.lastLogits(ids));
      steps.push(step);
      ids.push(step.token);
      if (eosIds.includes(step.token)) break;
    }
    return steps;
  }

  /** How many of the latest positions layer i attends to: all of them unless it slides. */
  private windowOf(i: number): number {
    const w = this.spec.slidingWindow;
    return w?.layers[i] ? w.size : Number.POSITIVE_INFINITY;
  }

  private layer(l: Layer, x: Float32Array, n: number, window: number): Float32Array {
    const { hiddenSize: h, numHeads, numKvHeads, headDim: d, rmsNormEps: eps } = this.spec;
    const hIn = rmsNorm(x, h, l.inputNorm, eps);
    let q: Float32Array = linear(hIn, n, l.q, l.qBias, numHeads * d);
    let k: Float32Array = linear(hIn, n, l.k, l.kBias, numKvHeads * d);
    const v = linear(hIn, n, l.v, l.vBias, numKvHeads * d);
    if (l.qNorm && l.kNorm) {
      q = rmsNorm(q, d, l.qNorm, eps);
      k = rmsNorm(k, d, l.kNorm, eps);
    }
    this.rope(q, n, numHeads);
    this.rope(k, n, numKvHeads);
    if (this.kvInt8) {
      int8RoundTrip(k, d);
      int8RoundTrip(v, d);
    }

    const attn = new Float32Array(n * numHeads * d);
    const group = numHeads / numKvHeads;
    const scale = 1 / Math.sqrt(d);
    const scores = new Float64Array(n);
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / group);
      for (let t = 0; t < n; t++) {
        const qo = (t * numHeads + head) * d;
        // Keys t - window < u <= t: the causal mask, narrowed to the window on sliding layers.
        const first = Math.max(0, t - window + 1);
        let max = Number.NEGATIVE_INFINITY;
        for (let u = first; u <= t; u++) {
          const ko = (u * numKvHeads + kvHead) * d;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qo + i]! * k[ko + i]!;
          scores[u] = dot * scale;
          if (scores[u]! > max) max = scores[u]!;
        }
        let sum = 0;
        for (let u = first; u <= t; u++) {
          scores[u] = Math.exp(scores[u]! - max);
          sum += scores[u]!;
        }
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let u = first; u <= t; u++) acc += scores[u]! * v[(u * numKvHeads + kvHead) * d + i]!;
          attn[qo + i] = acc / sum;
        }
      }
    }
    const attnOut = linear(attn, n, l.o, null, h);
    const mid = new Float32Array(n * h);
    for (let i = 0; i < mid.length; i++) mid[i] = x[i]! + attnOut[i]!;

    const hPost = rmsNorm(mid, h, l.postNorm, eps);
    const inter = this.spec.intermediateSize;
    const gate = linear(hPost, n, l.gate, null, inter);
    const up = linear(hPost, n, l.up, null, inter);
    for (let i = 0; i < gate.length; i++) gate[i] = Math.fround(silu(gate[i]!)) * up[i]!;
    const mlp = linear(gate, n, l.down, null, h);
    const out = new Float32Array(n * h);
    for (let i = 0; i < out.length; i++) out[i] = mid[i]! + mlp[i]!;
    return out;
  }

  /** Rotates q or k in place: position t of `heads` heads laid out [n, heads, headDim]. */
  private rope(x: Float32Array, n: number, heads: number): void {
    const d = this.spec.headDim;
    const half = d / 2;
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < half; i++) {
        const angle = t * this.invFreq[i]!;
        const cos = Math.fround(Math.cos(angle));
        const sin = Math.fround(Math.sin(angle));
        for (let head = 0; head < heads; head++) {
          const o = (t * heads + head) * d;
          const a = x[o + i]!;
          const b = x[o + i + half]!;
          // rotate_half(x) = [-x2, x1]
          x[o + i] = a * cos - b * sin;
          x[o + i + half] = b * cos + a * sin;
        }
      }
    }
  }
}

/**
 * Each run of d floats of x in place through int8 codes (ReferenceOptions.kvCache 'int8'): a run with
 * NaN or an infinity becomes NaN, an all-zero run (or one whose scale is 0 in float32) zeros.
 */
export function int8RoundTrip(x: Float32Array, d: number): void {
  for (let o = 0; o < x.length; o += d) {
    let m = 0;
    for (let i = 0; i < d; i++) m = Math.max(m, Math.abs(x[o + i]!));
    if (!Number.isFinite(m)) {
      x.fill(Number.NaN, o, o + d);
      continue;
    }
    const scale = Math.fround(m / 127);
    for (let i = 0; i < d; i++) {
      const code = scale > 0 ? roundHalfEven(Math.fround(x[o + i]! / scale)) : 0;
      x[o + i] = Math.max(-127, Math.min(127, code)) * scale;
    }
  }
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  // Math.round takes halves up; a half whose rounding is odd goes down to the even neighbour.
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The best and second-best token of a logits row. */
export function topTwo(logits: Float32Array): GreedyStep {
  let best = 0;
  let second = -1;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i]! > logits[best]!) {
      second = best;
      best = i;
    } else if (second < 0 || logits[i]! > logits[second]!) {
      second = i;
    }
  }
  const runnerUp = second < 0 ? best : second;
  return { token: best, runnerUp, margin: logits[best]! - logits[runnerUp]! };
}
