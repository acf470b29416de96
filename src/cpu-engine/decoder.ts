/**
 * edgetier's own CPU decoder (one thread, or a pool whose threads split each Linear by rows and each layer's attention by query token, kv head and segment of positions: `threads`): the model's existing files (config.json and the
 * converter's ONNX file, read for its initializers only) run on the WebAssembly SIMD kernels, with
 * the KV cache in the kernels' memory.
 *
 * Memory layout: weights, then per-step scratch, then the KV cache last, so that it grows in place
 * (memory.grow extends it; nothing is copied) as the context lengthens. The cache is a run of chunks
 * of chunkPositions positions (512 for an int8 cache, 64 for float32: kvCacheChunkPositions), `[chunk][layer][key | value][kvHead][position in chunk][headDim]` in
 * float32 (an int8 cache, the kernels' kvStoreI8: per kv head the chunk's codes, then its positions'
 * scales, positions padded to 8; keys in pairs of elements, values in pairs of positions): a new
 * chunk is appended when the context outgrows the last, and inside a chunk one head's keys are
 * contiguous, so the attention kernel streams through them where they lie (1.5x faster at 512
 * tokens of context than one entry per position, which strides across every layer's entries).
 *
 * A prompt runs in chunks of PREFILL_CHUNK tokens: the Linear layers as small GEMMs (each weight row
 * read from memory once per chunk), attention token by token over the causal prefix (in segments whose
 * length depends on the token's context alone). Each token's arithmetic is the same as in a one-token
 * step, so chunked and token-by-token logits are identical.
 *
 * Realm-neutral: the caller reads the files and compiles the kernels (node-session.ts in Node,
 * workers/cpu-model.ts in the browser's engine worker).
 */
import { ropeInvFreq } from '../builder/graph/rope.ts';
import type { HfConfig } from '../builder/hf-config.ts';
import type { Dtype } from '../core/dtypes.ts';
import { EdgetierError } from '../core/errors.ts';
import {
  defaultKvCacheType,
  int8KvCacheFits,
  type KvCacheType,
  kvCacheChunkPositions,
} from '../core/kv-cache.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { BLOCK, blocksOf, permutedIndex } from './layouts.ts';
import { cpuModelSpec } from './model-refusal.ts';
import {
  CPU_DTYPES,
  type CpuDtype,
  type LinearWeights,
  loadModelWeights,
  type ModelWeights,
} from './model-weights.ts';
import { type OnnxInitializers, readOnnxInitializers } from './onnx-reader.ts';
import { KernelThreadPool, type KernelThreadSpawner, type ThreadPoolOptions } from './thread-pool.ts';
import { type KernelExports, WasmKernels } from './wasm-kernels.ts';

export interface CpuDecoderOptions {
  /** Longest context (prompt + generated tokens); default and upper bound: max_position_embeddings. */
  maxContext?: number;
  /**
   * A memory to build in, left by a decoder that is gone (WasmKernels.create); default a fresh one.
   * Shared exactly when `threads` is above 1.
   */
  memory?: WebAssembly.Memory;
  /**
   * Threads, the calling one included (default 1: no pool, the plain build over an unshared memory).
   * Above 1 the Linear layers' GEMMs are split by output rows, and the attention by query token and
   * kv head, across a thread pool (thread-pool.ts) started with `spawn`, and the kernels module must be the threaded build (node-kernels.ts
   * kernelModule(true)); the results are bit-identical to one thread's.
   */
  threads?: number;
  spawn?: KernelThreadSpawner;
  /** The pool's tuning (spin, split thresholds, chunks); defaults in THREAD_POOL_DEFAULTS. */
  pool?: Omit<ThreadPoolOptions, 'threads'>;
  /**
   * When given, a pool that fails to start (a thread that errs, exits or stays silent) does not fail
   * the load: this is told why and the decoder runs on the calling thread alone, over the same
   * memory and build (the threaded build runs one thread as well). Without it the load fails.
   */
  onThreadsFailed?: (reason: string) => void;
  /**
   * Computes a q4 file's Linear layers with int16 activation codes even where its MatMulNBits nodes
   * allow int8 (accuracy_level 4): for measuring the two against each other. Default false.
   */
  int16Activations?: boolean;
  /**
   * The KV cache's element type: 'int8' (a code per element and a float32 scale per position and kv
   * head; the kernels' kvStoreI8) or 'float32'. Default (kvCacheType): int8 for q4 files whose family
   * has no attention biases, where headDim is a multiple of 16 up to 512 (on the 135M twin it moves
   * the logits by about 3 % RMS, a tenth of what 4-bit weights move them from 8-bit ones); float32
   * for q8 files (whose own error it would about double), fp32 files (exact against the reference
   * forward pass), Qwen2 (attention biases) and other head sizes.
   */
  kvCache?: KvCacheType;
  /**
   * Positions per KV cache chunk, the step the cache grows by: a multiple of 8 from 8 to 4096; default
   * kvCacheChunkPositions (512 for an int8 cache, 64 for float32: what the catalog's memory estimate
   * assumes). For measuring chunk sizes.
   */
  kvChunkPositions?: number;
}

export type { KvCacheType } from '../core/kv-cache.ts';

/**
 * The cache a decoder of `dtype` keeps: the option's, checked, or the default for the file: int8 (one
 * scale per key or value vector, as ik_llama.cpp's Q8_KV) for a q4 file of a family without attention
 * biases. Qwen2/2.5 keep float32 unless asked: their k_proj biases are huge in some layers (a bias
 * norm of 605-921 against a median of 22 on Qwen2.5-7B, ggml-org/llama.cpp#21385), which one scale per
 * key would leave the position-dependent channels few levels of, and Qwen2 is the family reported
 * broken by quantised KV caches elsewhere (vLLM's FP8 cache, QwenLM/Qwen3#840).
 */
export function kvCacheType(
  dtype: CpuDtype,
  spec: Pick<ModelSpec, 'headDim' | 'attentionBias'>,
  requested?: KvCacheType,
): KvCacheType {
  if (requested !== undefined && requested !== 'float32' && requested !== 'int8') {
    throw new EdgetierError(
      'bad_request',
      `The KV cache holds float32 or int8 elements, not ${String(requested)}.`,
    );
  }
  if (requested === 'int8' && !int8KvCacheFits(spec.headDim)) {
    throw new EdgetierError(
      'bad_request',
      `An int8 KV cache needs a head size that is a multiple of 16, at most 512; this model's is ${spec.headDim}.`,
    );
  }
  return requested ?? defaultKvCacheType(dtype, spec.headDim, spec.attentionBias);
}

/**
 * How the 4-bit Linear layers quantise their activations: 'int16' (32767 levels a block: q8 files, and
 * q4 files whose MatMulNBits nodes ask for float accuracy, accuracy_level 0-3); 'int8' (127 levels,
 * what accuracy_level 4 allows, as ORT's CPU kernel does) with SIMD128's int16 dot product; 'int8
 * relaxed': the same codes and the same outputs, bit for bit, with relaxed SIMD's int8 dot product
 * (a relaxed-SIMD kernels build).
 */
export type Q4Activations = 'int16' | 'int8' | 'int8 relaxed';

/** The q4 path for a file's MatMulNBits accuracy levels and a kernels build. */
export function q4Activations(
  dtype: CpuDtype,
  accuracyLevels: readonly number[],
  k: KernelExports,
  int16 = false,
): Q4Activations {
  if (dtype !== 'q4' || int16 || accuracyLevels.length === 0 || accuracyLevels.some((level) => level !== 4))
    return 'int16';
  return k.gemmQ4I8Rows && k.quantizeActivationsI8Tiled ? 'int8 relaxed' : 'int8';
}

/** Activation codes' levels a block (quantizeActivationsTiled): int16, or int8 (accuracy_level 4). */
const INT16_LEVELS = 32767;
const INT8_LEVELS = 127;

/** Prompt tokens per prefill chunk. */
export const PREFILL_CHUNK = 32;

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
  /** Bytes of score scratch per thread (the pool's threads each score in their own). */
  scoresStride: number;
  /** Attention's partial records for a prefill chunk (kernels' attentionPartialBytes). */
  partials: number;
  partialsBytes: number;
}

export function isCpuDtype(dtype: string): dtype is CpuDtype {
  return (CPU_DTYPES as readonly string[]).includes(dtype);
}

/** `dtype` when the CPU engine runs it; an `unsupported_dtype` error naming it otherwise. */
export function requireCpuDtype(dtype: Dtype): CpuDtype {
  if (isCpuDtype(dtype)) return dtype;
  throw new EdgetierError(
    'unsupported_dtype',
    `The CPU engine runs ${CPU_DTYPES.join(', ')} files; ${dtype} runs on ORT.`,
  );
}

export class CpuDecoder {
  private readonly invFreq: Float32Array;
  /** Bytes of one cache chunk: every layer's keys and values of chunkPositions positions. */
  private readonly chunkBytes: number;
  /** Bytes of one kv head's keys (or values) in a chunk. */
  private readonly headChunkBytes: number;
  private cacheBase = 0;
  private cached = 0;

  private constructor(
    readonly spec: ModelSpec,
    readonly dtype: CpuDtype,
    readonly maxContext: number,
    private readonly kx: WasmKernels,
    private readonly weights: ModelWeights,
    private readonly s: Scratch,
    /** How the 4-bit Linear layers quantise their activations (q4Activations). */
    readonly q4Activations: Q4Activations,
    /** The KV cache's element type. */
    readonly kvCache: KvCacheType,
    /** Positions per KV cache chunk (the cache grows by one chunk at a time). */
    readonly chunkPositions: number,
    /** The thread pool when running on more than one thread. */
    readonly pool: KernelThreadPool | null = null,
  ) {
    this.invFreq = ropeInvFreq(spec);
    this.headChunkBytes =
      kvCache === 'int8'
        ? kx.k.kvHeadChunkBytesI8(chunkPositions, spec.headDim)
        : chunkPositions * spec.headDim * 4;
    this.chunkBytes = spec.numLayers * 2 * spec.numKvHeads * this.headChunkBytes;
    this.cacheBase = kx.used;
  }

  /**
   * config.json, the bytes of the ONNX file of `dtype`, and the compiled kernels module (the threaded
   * build when `options.threads` is above 1).
   */
  static async fromFiles(
    config: HfConfig,
    onnx: Uint8Array,
    dtype: CpuDtype,
    kernels: WebAssembly.Module,
    options: CpuDecoderOptions = {},
  ): Promise<CpuDecoder> {
    const chunk: unknown = options.kvChunkPositions;
    if (
      chunk !== undefined &&
      !(
        typeof chunk === 'number' &&
        Number.isInteger(chunk) &&
        chunk % 8 === 0 &&
        chunk >= 8 &&
        chunk <= 4096
      )
    ) {
      throw new EdgetierError(
        'bad_request',
        `A KV cache chunk holds a multiple of 8 positions from 8 to 4096, not ${typeof chunk === 'number' ? chunk : JSON.stringify(chunk)}.`,
      );
    }
    const spec = cpuModelSpec(config);
    const file = readOnnxInitializers(onnx);
    const threads = options.threads ?? 1;
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= 64)) {
      throw new EdgetierError('bad_request', `The CPU engine runs on 1 to 64 threads, not ${threads}.`);
    }
    const reuse = options.memory ? { reuse: options.memory } : {};
    if (threads === 1) {
      const kx = await WasmKernels.create(kernels, reuse);
      return CpuDecoder.assemble(spec, dtype, kx, file, options, null);
    }
    if (!options.spawn) throw new EdgetierError('bad_request', `${threads} threads need a thread spawner.`);
    const kx = await WasmKernels.create(kernels, { shared: true, ...reuse });
    // The threads start first: each instantiation writes the module's static data into the memory.
    let pool: KernelThreadPool | null = null;
    try {
      pool = await KernelThreadPool.start(kx, kernels, options.spawn, { ...options.pool, threads });
    } catch (error) {
      if (!options.onThreadsFailed) throw error;
      // start() has terminated every thread it started; the cause says which thread failed and how.
      const cause = (error as { cause?: unknown }).cause ?? error;
      options.onThreadsFailed(cause instanceof Error ? cause.message : String(cause));
    }
    try {
      return CpuDecoder.assemble(spec, dtype, kx, file, options, pool);
    } catch (error) {
      await pool?.close();
      throw error;
    }
  }

  private static assemble(
    spec: ModelSpec,
    dtype: CpuDtype,
    kx: WasmKernels,
    file: OnnxInitializers,
    options: CpuDecoderOptions,
    pool: KernelThreadPool | null,
  ): CpuDecoder {
    const weights = loadModelWeights(kx, spec, dtype, file);
    const q4 = q4Activations(dtype, file.matMulNBitsAccuracy, kx.k, options.int16Activations);
    const kvCache = kvCacheType(dtype, spec, options.kvCache);
    const chunkPositions = options.kvChunkPositions ?? kvCacheChunkPositions(kvCache);
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
    const C = PREFILL_CHUNK;
    // One row of scores per query head of a kv group (attention scans a group at once), per thread.
    const scoresStride = (NH / KV) * maxContext * 4;
    const partialsBytes = kx.k.attentionPartialBytes(C, NH, D);
    const s: Scratch = {
      x: f32(C * H),
      xn: f32(C * H),
      qkv: f32(C * (NH + 2 * KV) * D),
      attn: f32(C * NH * D),
      tmp: f32(C * H),
      gateUp: f32(C * 2 * FF),
      act: f32(C * FF),
      xq: kx.alloc(C * blocksOf(widest) * BLOCK * 2),
      xs: f32(C * blocksOf(widest)),
      logits: f32(V),
      cos: f32(C * (D / 2)),
      sin: f32(C * (D / 2)),
      scores: kx.alloc(scoresStride * (pool?.threads ?? 1)),
      scoresStride,
      // Each attention unit's partial records (segment maximum, sum, output), merged per head after.
      partials: kx.alloc(partialsBytes),
      partialsBytes,
    };
    return new CpuDecoder(spec, dtype, maxContext, kx, weights, s, q4, kvCache, chunkPositions, pool);
  }

  /**
   * The kernels, activation codes and KV cache this decoder runs, for people (LoadInfo.cpuKernels):
   * 'relaxed SIMD, int8 activations' (a q4 file at accuracy_level 4 where relaxed SIMD computes right),
   * 'SIMD128, int8 activations' (the same outputs, without relaxed SIMD), or 'SIMD128' (int16 codes),
   * followed by ', int8 KV cache' where the cache holds int8 codes (q4 files by default).
   */
  get kernelsLabel(): string {
    const cache = this.kvCache === 'int8' ? ', int8 KV cache' : '';
    if (this.q4Activations === 'int8 relaxed') return `relaxed SIMD, int8 activations${cache}`;
    if (this.q4Activations === 'int8') return `SIMD128, int8 activations${cache}`;
    return `SIMD128${cache}`;
  }

  /** Threads the GEMMs run on (1: the calling thread alone). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /** Stops the thread pool's workers (nothing to do on one thread); the decoder is unusable after. */
  async dispose(): Promise<void> {
    await this.pool?.close();
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
    for (let at = 0; at < ids.length; at += PREFILL_CHUNK) {
      const chunk = ids.slice(at, at + PREFILL_CHUNK);
      this.run(chunk, at + chunk.length === ids.length);
    }
    return this.kx.f32(this.s.logits, this.spec.vocabSize).slice();
  }

  /** Writes token `id`'s embedding to `x` [H]. */
  private embed(id: number, at: number): void {
    const { hiddenSize: H } = this.spec;
    const x = this.kx.f32(at, H);
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

  /** y [n, rows] = W x[t] for the n activation rows of x [n, cols]. */
  private linear(y: number, x: number, w: LinearWeights, n: number): void {
    const { k } = this.kx;
    const { pool } = this;
    if (w.kind === 'f32') {
      if (pool) pool.gemmF32(y, w.w, x, w.rows, w.cols, n);
      else k.gemmF32(y, w.w, x, w.rows, w.cols, n);
      return;
    }
    const { xq, xs } = this.s;
    if (w.kind === 'q4' && this.q4Activations === 'int8 relaxed') {
      k.quantizeActivationsI8Tiled!(xq, xs, x, w.cols, n);
      if (pool) pool.gemmQ('q4 int8', y, w.w, w.scales, xq, xs, w.rows, w.blocks, n);
      else k.gemmQ4I8!(y, w.w, w.scales, xq, xs, w.rows, w.blocks, n);
      return;
    }
    const int8 = w.kind === 'q4' && this.q4Activations === 'int8';
    k.quantizeActivationsTiled(xq, xs, x, w.cols, n, int8 ? INT8_LEVELS : INT16_LEVELS);
    if (pool) pool.gemmQ(w.kind, y, w.w, w.scales, xq, xs, w.rows, w.blocks, n);
    else if (w.kind === 'q4') k.gemmQ4(y, w.w, w.scales, xq, xs, w.rows, w.blocks, n);
    else k.gemmQ8(y, w.w, w.scales, xq, xs, w.rows, w.blocks, n);
  }

  /** Grows the cache (in place, at the end of memory) to hold `positions`. */
  private reserve(positions: number): void {
    this.kx.ensure(this.cacheBase + Math.ceil(positions / this.chunkPositions) * this.chunkBytes);
  }

  /** The vocabulary index of the first NaN among the last logits forward returned, or -1. */
  firstNaNLogit(): number {
    return this.kx.k.firstNaN(this.s.logits, this.spec.vocabSize);
  }

  /** Runs `ids` (at most PREFILL_CHUNK) at the next positions; the logits of the last when asked. */
  private run(ids: readonly number[], wantLogits: boolean): void {
    const { spec, kx, s } = this;
    const k = kx.k;
    const {
      hiddenSize: H,
      headDim: D,
      numHeads: NH,
      numKvHeads: KV,
      intermediateSize: FF,
      vocabSize: V,
    } = spec;
    const eps = spec.rmsNormEps;
    const n = ids.length;
    for (const id of ids) {
      if (!(Number.isInteger(id) && id >= 0 && id < V)) {
        throw new RangeError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
      }
    }
    const pos0 = this.cached;
    this.reserve(pos0 + n);
    const half = D / 2;
    const cos = kx.f32(s.cos, n * half);
    const sin = kx.f32(s.sin, n * half);
    for (let t = 0; t < n; t++) {
      this.embed(ids[t]!, s.x + t * H * 4);
      for (let i = 0; i < half; i++) {
        // As the graph computes it: float32 position times float32 frequency.
        const angle = Math.fround((pos0 + t) * this.invFreq[i]!);
        cos[t * half + i] = Math.cos(angle);
        sin[t * half + i] = Math.sin(angle);
      }
    }

    const qkvWidth = (NH + 2 * KV) * D;
    const kvFloats = KV * D;
    const { headChunkBytes, chunkPositions: C } = this;
    const int8 = this.kvCache === 'int8';
    const scale = 1 / Math.sqrt(D);
    for (let l = 0; l < spec.numLayers; l++) {
      const w = this.weights.layers[l]!;
      k.rmsNorm(s.xn, s.x, w.inputNorm, n, H, eps);
      this.linear(s.qkv, s.xn, w.qkv, n);
      const keys = this.cacheBase + l * 2 * KV * headChunkBytes;
      const values = keys + KV * headChunkBytes;
      const bytes = new Uint8Array(kx.memory.buffer);
      for (let t = 0; t < n; t++) {
        const q = s.qkv + t * qkvWidth * 4;
        const kNew = q + NH * D * 4;
        if (w.qkvBias !== null) k.addInPlace(q, w.qkvBias, qkvWidth);
        if (w.qNorm !== null && w.kNorm !== null) {
          k.rmsNorm(q, q, w.qNorm, NH, D, eps);
          k.rmsNorm(kNew, kNew, w.kNorm, KV, D, eps);
        }
        k.rope(q, NH, D, s.cos + t * half * 4, s.sin + t * half * 4);
        k.rope(kNew, KV, D, s.cos + t * half * 4, s.sin + t * half * 4);
        // The token's key and value go straight to their place in the cache (as int8 codes, or copied).
        const p = pos0 + t;
        const chunk = Math.floor(p / C) * this.chunkBytes;
        const slot = chunk + (p % C) * D * 4;
        for (let g = 0; g < KV; g++) {
          const key = kNew + g * D * 4;
          const value = key + kvFloats * 4;
          if (int8) {
            const head = chunk + g * headChunkBytes;
            k.kvStoreI8(keys + head, values + head, p % C, key, value, D, C);
          } else {
            bytes.copyWithin(keys + slot + g * headChunkBytes, key, key + D * 4);
            bytes.copyWithin(values + slot + g * headChunkBytes, value, value + D * 4);
          }
        }
      }
      // Causal: token t sees the cache up to its own position.
      if (this.pool) {
        this.pool.attention({
          out: s.attn,
          partials: s.partials,
          partialsBytes: s.partialsBytes,
          q: s.qkv,
          qStride: qkvWidth * 4,
          keys,
          values,
          chunkBytes: this.chunkBytes,
          chunkPositions: C,
          t0: pos0 + 1,
          tokens: n,
          heads: NH,
          kvHeads: KV,
          d: D,
          scale,
          scores: s.scores,
          scoresStride: s.scoresStride,
          int8,
        });
      } else {
        for (let t = 0; t < n; t++) {
          const visible = pos0 + t + 1;
          const q = s.qkv + t * qkvWidth * 4;
          (int8 ? k.attentionI8 : k.attention)(
            s.attn + t * NH * D * 4,
            q,
            keys,
            values,
            this.chunkBytes,
            C,
            visible,
            NH,
            KV,
            D,
            scale,
            s.scores,
            s.partials,
          );
        }
      }
      this.linear(s.tmp, s.attn, w.o, n);
      k.addInPlace(s.x, s.tmp, n * H);

      k.rmsNorm(s.xn, s.x, w.postNorm, n, H, eps);
      this.linear(s.gateUp, s.xn, w.gateUp, n);
      for (let t = 0; t < n; t++) k.swiglu(s.act + t * FF * 4, s.gateUp + t * 2 * FF * 4, FF);
      this.linear(s.tmp, s.act, w.down, n);
      k.addInPlace(s.x, s.tmp, n * H);
    }
    this.cached = pos0 + n;
    if (!wantLogits) return;
    k.rmsNorm(s.xn, s.x + (n - 1) * H * 4, this.weights.finalNorm, 1, H, eps);
    this.linear(s.logits, s.xn, this.weights.head, 1);
  }
}
