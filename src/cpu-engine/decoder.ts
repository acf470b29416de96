/**
 * edgetier's own CPU decoder (single thread): the model's existing files (config.json and the
 * converter's ONNX file, read for its initializers only) run on the WebAssembly SIMD kernels, with
 * the KV cache in the kernels' memory.
 *
 * Memory layout: weights, then per-step scratch, then the KV cache last, so that it grows in place
 * (memory.grow extends it; nothing is copied) as the context lengthens. The cache is position-major,
 * `[position][layer][key | value][kvHead][headDim]`: a step appends one position's entry, and the
 * attention kernel reads every past key and value where it lies, at a stride of one entry.
 *
 * A prompt runs token by token through the same step (no batched prefill GEMM yet).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ropeInvFreq } from '../builder/graph/rope.ts';
import { type HfConfig, parseHfConfig } from '../builder/hf-config.ts';
import { DTYPE_FILE, type Dtype } from '../core/dtypes.ts';
import { EdgetierError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { BLOCK, blocksOf, permutedIndex } from './layouts.ts';
import {
  CPU_DTYPES,
  type CpuDtype,
  type LinearWeights,
  loadModelWeights,
  type ModelWeights,
} from './model-weights.ts';
import { readOnnxInitializers } from './onnx-reader.ts';
import { WasmKernels } from './wasm-kernels.ts';

export interface CpuDecoderOptions {
  /** Longest context (prompt + generated tokens); default and upper bound: max_position_embeddings. */
  maxContext?: number;
}

/** Positions the KV cache grows by at a time. */
const CACHE_CHUNK = 64;

interface Scratch {
  x: number;
  xn: number;
  qkv: number;
  attn: number;
  tmp: number;
  gateUp: number;
  act: number;
  xq: number;
  xs: number;
  logits: number;
  cos: number;
  sin: number;
  scores: number;
}

export function isCpuDtype(dtype: string): dtype is CpuDtype {
  return (CPU_DTYPES as readonly string[]).includes(dtype);
}

export class CpuDecoder {
  private readonly invFreq: Float32Array;
  /** Float32 values per cached position (every layer's key and value). */
  private readonly positionFloats: number;
  private cacheBase = 0;
  private cached = 0;

  private constructor(
    readonly spec: ModelSpec,
    readonly dtype: CpuDtype,
    readonly maxContext: number,
    private readonly kx: WasmKernels,
    private readonly weights: ModelWeights,
    private readonly s: Scratch,
  ) {
    this.invFreq = ropeInvFreq(spec);
    this.positionFloats = spec.numLayers * 2 * spec.numKvHeads * spec.headDim;
    this.cacheBase = kx.used;
  }

  /** Loads `<dir>/config.json` and `<dir>/onnx/<file of dtype>`. */
  static async load(dir: string, dtype: Dtype, options: CpuDecoderOptions = {}): Promise<CpuDecoder> {
    if (!isCpuDtype(dtype)) {
      throw new EdgetierError(
        'unsupported_dtype',
        `The CPU engine runs ${CPU_DTYPES.join(', ')} files; ${dtype} runs on ORT.`,
      );
    }
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as HfConfig;
    const onnx = await readFile(join(dir, 'onnx', DTYPE_FILE[dtype]));
    return CpuDecoder.fromFiles(config, onnx, dtype, options);
  }

  static async fromFiles(
    config: HfConfig,
    onnx: Uint8Array,
    dtype: CpuDtype,
    options: CpuDecoderOptions = {},
  ): Promise<CpuDecoder> {
    const spec = parseHfConfig(config);
    if (spec.numHeads % spec.numKvHeads !== 0 || spec.headDim % 2 !== 0) {
      throw new EdgetierError(
        'unsupported_architecture',
        `numHeads (${spec.numHeads}) must be a multiple of numKvHeads (${spec.numKvHeads}) and headDim (${spec.headDim}) even.`,
      );
    }
    const file = readOnnxInitializers(onnx);
    const kx = await WasmKernels.create();
    const weights = loadModelWeights(kx, spec, dtype, file);
    const maxContext = Math.min(options.maxContext ?? spec.maxPositionEmbeddings, spec.maxPositionEmbeddings);
    const {
      hiddenSize: H,
      headDim: D,
      numHeads: NH,
      numKvHeads: KV,
      intermediateSize: FF,
      vocabSize: V,
    } = spec;
    const widest = Math.max(H, FF, NH * D);
    const f32 = (n: number) => kx.alloc(n * 4);
    const s: Scratch = {
      x: f32(H),
      xn: f32(H),
      qkv: f32((NH + 2 * KV) * D),
      attn: f32(NH * D),
      tmp: f32(H),
      gateUp: f32(2 * FF),
      act: f32(FF),
      xq: kx.alloc(blocksOf(widest) * BLOCK * 2),
      xs: f32(blocksOf(widest)),
      logits: f32(V),
      cos: f32(D / 2),
      sin: f32(D / 2),
      scores: f32(maxContext),
    };
    return new CpuDecoder(spec, dtype, maxContext, kx, weights, s);
  }

  /** Tokens in the KV cache. */
  get length(): number {
    return this.cached;
  }

  /** Bytes of WebAssembly memory in use (weights, scratch, and the cache's current capacity). */
  get memoryBytes(): number {
    return this.kx.memory.buffer.byteLength;
  }

  /** Forgets the cache from position `length` on (0: all of it); the memory stays for reuse. */
  truncate(length: number): void {
    if (!(length >= 0 && length <= this.cached)) {
      throw new RangeError(`cannot cut the cache back to ${length} tokens: it holds ${this.cached}`);
    }
    this.cached = length;
  }

  /**
   * Appends `ids` to the context, one decode step each, and returns the logits after the last one
   * (a fresh Float32Array of vocab_size).
   */
  forward(ids: readonly number[]): Float32Array {
    if (ids.length === 0) throw new RangeError('forward needs at least one token');
    if (this.cached + ids.length > this.maxContext) {
      throw new EdgetierError(
        'context_overflow',
        `The context would hold ${this.cached + ids.length} tokens, more than this model's ${this.maxContext}.`,
      );
    }
    for (let i = 0; i < ids.length; i++) this.step(ids[i]!, i === ids.length - 1);
    return this.kx.f32(this.s.logits, this.spec.vocabSize).slice();
  }

  private embed(id: number): void {
    const { hiddenSize: H, vocabSize: V } = this.spec;
    if (!(Number.isInteger(id) && id >= 0 && id < V)) {
      throw new RangeError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    }
    const x = this.kx.f32(this.s.x, H);
    const e = this.weights.embedding;
    if (e.kind === 'f32') {
      x.set(this.kx.f32(e.table + id * H * 4, H));
      return;
    }
    const width = blocksOf(H) * BLOCK;
    const row = this.kx.i8(e.rows + id * width, width);
    const scale = this.kx.f32(e.scales + id * 4, 1)[0]!;
    for (let c = 0; c < H; c++) x[c] = row[(c & ~(BLOCK - 1)) + permutedIndex(c & (BLOCK - 1))]! * scale;
  }

  private linear(y: number, x: number, w: LinearWeights): void {
    const k = this.kx.k;
    if (w.kind === 'f32') {
      k.gemvF32(y, w.w, x, w.rows, w.cols);
      return;
    }
    k.quantizeActivations(this.s.xq, this.s.xs, x, w.cols);
    if (w.kind === 'q4') k.gemvQ4(y, w.w, w.scales, this.s.xq, this.s.xs, w.rows, w.blocks);
    else k.gemvQ8(y, w.w, w.scales, this.s.xq, this.s.xs, w.rows, w.blocks);
  }

  /** Grows the cache (in place, at the end of memory) to hold `positions`. */
  private reserve(positions: number): void {
    const chunks = Math.ceil(positions / CACHE_CHUNK) * CACHE_CHUNK;
    this.kx.ensure(this.cacheBase + Math.min(chunks, this.maxContext) * this.positionFloats * 4);
  }

  private step(id: number, wantLogits: boolean): void {
    const { spec, kx, s } = this;
    const k = kx.k;
    const { hiddenSize: H, headDim: D, numHeads: NH, numKvHeads: KV, intermediateSize: FF } = spec;
    const eps = spec.rmsNormEps;
    const pos = this.cached;
    this.reserve(pos + 1);
    this.embed(id);

    const cos = kx.f32(s.cos, D / 2);
    const sin = kx.f32(s.sin, D / 2);
    for (let i = 0; i < D / 2; i++) {
      // As the graph computes it: float32 position times float32 frequency.
      const angle = Math.fround(pos * this.invFreq[i]!);
      cos[i] = Math.cos(angle);
      sin[i] = Math.sin(angle);
    }

    const kvFloats = KV * D;
    const strideBytes = this.positionFloats * 4;
    const q = s.qkv;
    const kNew = s.qkv + NH * D * 4;
    const vNew = kNew + kvFloats * 4;
    for (let l = 0; l < spec.numLayers; l++) {
      const w = this.weights.layers[l]!;
      k.rmsNorm(s.xn, s.x, w.inputNorm, 1, H, eps);
      this.linear(s.qkv, s.xn, w.qkv);
      if (w.qkvBias !== null) k.addInPlace(s.qkv, w.qkvBias, (NH + 2 * KV) * D);
      if (w.qNorm !== null && w.kNorm !== null) {
        k.rmsNorm(q, q, w.qNorm, NH, D, eps);
        k.rmsNorm(kNew, kNew, w.kNorm, KV, D, eps);
      }
      k.rope(q, NH, D, s.cos, s.sin);
      k.rope(kNew, KV, D, s.cos, s.sin);
      // This position's key and value go straight to their place in the cache.
      const keys = this.cacheBase + l * 2 * kvFloats * 4;
      const values = keys + kvFloats * 4;
      const bytes = new Uint8Array(kx.memory.buffer);
      bytes.copyWithin(keys + pos * strideBytes, kNew, kNew + kvFloats * 8);
      k.attention(s.attn, q, keys, values, strideBytes, pos + 1, NH, KV, D, 1 / Math.sqrt(D), s.scores);
      this.linear(s.tmp, s.attn, w.o);
      k.addInPlace(s.x, s.tmp, H);

      k.rmsNorm(s.xn, s.x, w.postNorm, 1, H, eps);
      this.linear(s.gateUp, s.xn, w.gateUp);
      k.swiglu(s.act, s.gateUp, FF);
      this.linear(s.tmp, s.act, w.down);
      k.addInPlace(s.x, s.tmp, H);
    }
    this.cached = pos + 1;
    if (!wantLogits) return;
    k.rmsNorm(s.xn, s.x, this.weights.finalNorm, 1, H, eps);
    this.linear(s.logits, s.xn, this.weights.head);
  }
}
