/**
 * Seeded random weights for "shape twins" and test fixtures, produced lazily, one tensor per
 * `read()`, so a model never sits in memory whole.
 *
 * PRNG: each tensor gets its own xoshiro128** stream, seeded through splitmix32 from
 * FNV-1a(name) mixed with the user's seed. A tensor's values therefore depend only on (seed, name),
 * not on the order tensors are read in, and the same seed rebuilds the same model bit for bit.
 *
 * Init scales keep activations near unit size through any depth, so logits are far from flat:
 * embeddings std `embeddingStd` (default 1), an untied head std 1; Linear weights std 1/sqrt(in_features) (Kaiming);
 * biases std `biasStd`; RMSNorm weights 1 (+ uniform jitter in [-normJitter, normJitter], which
 * fixtures use so that a graph ignoring a norm weight gives different tokens).
 */
import type { ModelSpec } from '../core/model-spec.ts';
import { type ExpectedTensor, expectedTensors } from './hf-tensors.ts';
import type { WeightSource } from './weights.ts';

export interface RandomWeightOptions {
  seed: number;
  /** Half-width of the uniform noise added to the RMSNorm weights of 1. Default 0. */
  normJitter?: number;
  /** Standard deviation of q/k/v biases. Default 0.1. */
  biasStd?: number;
  /**
   * Standard deviation of the embedding. Default 1. Twins use 1/sqrt(hidden_size): with a tied head
   * and a large embedding, a random model's best logit is nearly always the token it just read, so
   * it would repeat one token forever; a small embedding lets the layers decide.
   */
  embeddingStd?: number;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128** filling `out` with uniform values in [-1, 1). */
export function fillUniform(out: Float32Array, seed: number, stream: string): void {
  const init = splitmix32((seed >>> 0) ^ fnv1a(stream));
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  if ((a | b | c | d) === 0) a = 1;
  for (let i = 0; i < out.length; i++) {
    const r = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    out[i] = r / 2147483648 - 1;
  }
}

export class RandomWeights implements WeightSource {
  private readonly tensors: Map<string, ExpectedTensor>;
  private readonly seed: number;
  private readonly normJitter: number;
  private readonly biasStd: number;
  private readonly embeddingStd: number;

  constructor(spec: ModelSpec, options: RandomWeightOptions) {
    this.tensors = new Map(expectedTensors(spec).map((t) => [t.name, t]));
    this.seed = options.seed;
    this.normJitter = options.normJitter ?? 0;
    this.biasStd = options.biasStd ?? 0.1;
    this.embeddingStd = options.embeddingStd ?? 1;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  shape(name: string): number[] {
    return [...this.get(name).shape];
  }

  async read(name: string): Promise<Float32Array> {
    const t = this.get(name);
    const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    fillUniform(out, this.seed, name);
    // A uniform variable on [-1, 1) has std 1/sqrt(3): scale by sqrt(3) * std.
    const scale = (std: number) => {
      const k = Math.sqrt(3) * std;
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * k;
    };
    switch (t.role) {
      case 'embedding':
        scale(this.embeddingStd);
        break;
      case 'head':
        scale(1);
        break;
      case 'linear':
        scale(1 / Math.sqrt(t.shape[1] as number));
        break;
      case 'bias':
        scale(this.biasStd);
        break;
      case 'norm':
        for (let i = 0; i < out.length; i++) out[i] = 1 + (out[i] as number) * this.normJitter;
        break;
    }
    return out;
  }

  private get(name: string): ExpectedTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no tensor named ${name}`);
    return t;
  }
}
