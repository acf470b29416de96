/**
 * The kernels module instantiated over one growable `WebAssembly.Memory`, with a bump allocator: the
 * weights, the activations and (last, so it can grow in place) the KV cache all live in that memory,
 * and the kernels read them where they are. Views are made fresh on each use because growing the
 * memory detaches the old ArrayBuffer.
 *
 * Realm-neutral (Node and the browser's engine worker): the compiled module comes from the realm's
 * own loader, `node-kernels.ts` (built from source on demand) or `workers/cpu-kernels.ts` (the asset
 * the Vite build emits).
 */
import { EdgetierError } from '../core/errors.ts';

/** The exports of kernels/kernels.ts; every pointer is a byte offset into the memory. */
export interface KernelExports {
  quantizeActivations(xq: number, xs: number, x: number, n: number): void;
  /**
   * `tokens` rows of n, in the prefill tiles' layout (layouts.ts: activationIndex); the GEMMs' input.
   * `levels`: 32767 (int16 codes) or 127 (int8 codes, a q4 file at accuracy_level 4).
   */
  quantizeActivationsTiled(
    xq: number,
    xs: number,
    x: number,
    n: number,
    tokens: number,
    levels: number,
  ): void;
  /**
   * The relaxed-SIMD builds only (kernels/relaxed.ts): quantizeActivationsTiled(..., 127) in the int8
   * layout (36 bytes a block a token), and the 4-bit GEMM over it; bit for bit gemmQ4's outputs.
   */
  quantizeActivationsI8Tiled?(xq: number, xs: number, x: number, n: number, tokens: number): void;
  gemmQ4I8?(
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
  ): void;
  gemmQ4I8Rows?(
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
    r0: number,
    r1: number,
  ): void;
  /** The index of the first NaN among n floats at x, or -1. */
  firstNaN(x: number, n: number): number;
  gemmF32(y: number, w: number, x: number, rows: number, cols: number, tokens: number): void;
  gemmQ4(
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
  ): void;
  /** gemmF32/gemmQ4/gemmQ8 for output rows [r0, r1) of `rows` (a thread's share). */
  gemmF32Rows(
    y: number,
    w: number,
    x: number,
    rows: number,
    cols: number,
    tokens: number,
    r0: number,
    r1: number,
  ): void;
  gemmQ4Rows(
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
    r0: number,
    r1: number,
  ): void;
  gemmQ8Rows(
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
    r0: number,
    r1: number,
  ): void;
  gemmQ8(
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
  ): void;
  addInPlace(a: number, b: number, n: number): void;
  rmsNorm(out: number, x: number, weight: number, rows: number, width: number, eps: number): void;
  rope(x: number, heads: number, d: number, cos: number, sin: number): void;
  softmax(x: number, n: number): void;
  swiglu(out: number, gateUp: number, n: number): void;
  /** First byte after the module's static data. */
  heapBase(): number;
  /**
   * One query's attention (every segment of attentionUnits, then attentionCombine); partials:
   * attentionPartialBytes(1, heads, d) bytes.
   */
  attention(
    out: number,
    q: number,
    k: number,
    v: number,
    chunkBytes: number,
    chunkPositions: number,
    t: number,
    heads: number,
    kvHeads: number,
    d: number,
    scale: number,
    scores: number,
    partials: number,
  ): void;
  /** Segments (of whole cache chunks, by context alone) of a query seeing t positions. */
  attentionSegments(t: number, chunkPositions: number): number;
  /** Bytes of partial records a job of `tokens` queries needs. */
  attentionPartialBytes(tokens: number, heads: number, d: number): number;
  /**
   * Units [u0, u1) of a chunk's attention (tokens x kv heads x parts of perUnit query heads x segs
   * segment slots): each writes its heads' partial records; thread-pool.ts.
   */
  attentionUnits(
    partials: number,
    q: number,
    qStride: number,
    k: number,
    v: number,
    chunkBytes: number,
    chunkPositions: number,
    t0: number,
    heads: number,
    kvHeads: number,
    d: number,
    scale: number,
    scores: number,
    perUnit: number,
    segs: number,
    u0: number,
    u1: number,
  ): void;
  /** attention over an int8 cache (kvStoreI8's layout); d a multiple of 16, at most 512. */
  attentionI8: KernelExports['attention'];
  /** attentionUnits over an int8 cache (kvStoreI8's layout); d a multiple of 16, at most 512. */
  attentionUnitsI8: KernelExports['attentionUnits'];
  /** Bytes of one kv head's keys (or values) in an int8 cache chunk of `chunkPositions` positions. */
  kvHeadChunkBytesI8(chunkPositions: number, d: number): number;
  /**
   * Stores position p of one kv head's key and value (d floats each) into its int8 cache chunk
   * (`keys`, `values`: the head's keys and values in that chunk).
   */
  kvStoreI8(
    keys: number,
    values: number,
    p: number,
    key: number,
    value: number,
    d: number,
    chunkPositions: number,
  ): void;
  /** out [tokens, heads, d] from the partial records, segments merged in order. */
  attentionCombine(
    out: number,
    partials: number,
    tokens: number,
    t0: number,
    heads: number,
    d: number,
    chunkPositions: number,
  ): void;
}

const PAGE = 65536;
/** wasm32's limit: 4 GiB. */
const MAX_PAGES = 65536;
const ALIGN = 16;

export class WasmKernels {
  /** Next free byte: allocation starts after the module's static data. */
  private top: number;

  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly k: KernelExports,
  ) {
    this.top = Math.ceil(k.heapBase() / ALIGN) * ALIGN;
  }

  /**
   * The kernels `module` (compiled by the realm's loader) over a fresh memory, or over `reuse`, a
   * memory an earlier WasmKernels made whose user is gone: allocation starts again at its beginning
   * and it grows only past its size (the engine worker keeps one for its life, as ORT keeps its heap).
   * `shared`: a shared memory and the threaded build (kernelModule(true) in node-kernels.ts), which
   * thread-pool.ts's threads instantiate over the same memory.
   */
  static async create(
    module: WebAssembly.Module,
    options: { shared?: boolean; reuse?: WebAssembly.Memory } = {},
  ): Promise<WasmKernels> {
    const shared = options.shared === true;
    const { reuse } = options;
    // SharedArrayBuffer is undefined where a page is not cross-origin isolated.
    const reuseShared =
      typeof SharedArrayBuffer !== 'undefined' && reuse?.buffer instanceof SharedArrayBuffer;
    if (reuse && reuseShared !== shared) {
      throw new EdgetierError(
        'bad_request',
        `The CPU engine cannot reuse ${shared ? 'an unshared' : 'a shared'} memory for ${shared ? 'threads' : 'one thread'}.`,
      );
    }
    const memory =
      reuse ?? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, ...(shared ? { shared } : {}) });
    // Buffers start zero-filled (see alloc), as in a fresh memory.
    if (reuse) new Uint8Array(reuse.buffer).fill(0);
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return new WasmKernels(memory, instance.exports as unknown as KernelExports);
  }

  /** Bytes allocated so far (the end of the last buffer). */
  get used(): number {
    return this.top;
  }

  /** Grows the memory so that bytes [0, end) exist. */
  ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new EdgetierError(
        'out_of_memory',
        `The CPU engine needs ${Math.ceil(end / 2 ** 20)} MiB, more than WebAssembly's 4 GiB: use a smaller model.`,
      );
    }
    this.memory.grow(pages);
  }

  /** A fresh buffer of `bytes`, 16-byte aligned, zero-filled (memory is never reused). */
  alloc(bytes: number): number {
    const at = this.top;
    this.top = Math.ceil((at + bytes) / ALIGN) * ALIGN;
    this.ensure(this.top);
    return at;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i16(ptr: number, length: number): Int16Array {
    return new Int16Array(this.memory.buffer, ptr, length);
  }

  i8(ptr: number, length: number): Int8Array {
    return new Int8Array(this.memory.buffer, ptr, length);
  }

  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }

  /** Copies float32 values into a new buffer; returns its pointer. */
  putF32(values: Float32Array): number {
    const ptr = this.alloc(values.length * 4);
    this.f32(ptr, values.length).set(values);
    return ptr;
  }

  putU8(values: Uint8Array): number {
    const ptr = this.alloc(values.length);
    this.u8(ptr, values.length).set(values);
    return ptr;
  }
}
