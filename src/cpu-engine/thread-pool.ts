/**
 * The CPU engine's threads: a pool of workers over the kernels' one shared `WebAssembly.Memory`, each
 * with its own instance of the same threaded kernels build. A big GEMV/GEMM (a Linear layer's
 * weights: q/k/v, o, gate/up, down, the LM head) is split by output rows into chunks, and a layer's
 * attention over the KV cache into units of (query token, kv head, part of its group's query heads,
 * segment of positions), whose partial results the calling thread then merges in a fixed order;
 * the calling thread publishes the job in a control block in that memory, claims chunks like every
 * worker, then waits until every claimed chunk is done. Each output row (each unit) is computed whole
 * by one thread with the same arithmetic as on one thread, and segments depend on the context alone,
 * so the results are bit-identical whatever the thread count.
 *
 * Synchronisation (designed against the collapse an earlier spin-barrier probe showed; NOT yet measured:
 * THREAD_POOL_DEFAULTS are first guesses, to be tuned with bench/cpu-engine-step.ts `--threads 1,2
 * --spin N --min-split N --chunks N`, idle and with the cores busy):
 * - Chunks are claimed dynamically (a compare-and-swap on one word), never assigned: a worker that the
 *   OS has not scheduled takes no chunk, and the calling thread does its share as well, so a busy
 *   machine slows a step down to one thread's speed rather than stalling on a sleeping thread. That
 *   is what a fixed split with a spin barrier lacks (it collapsed to 1 tok/s with the cores busy).
 * - Idle workers spin a bounded number of loads on the generation word, then sleep in Atomics.wait;
 *   the caller notifies only when some worker sleeps. The caller waits for the last chunks the same
 *   way (a bounded spin, then Atomics.wait in slices, giving up past `stallMs`).
 * - A Linear with fewer multiply-adds than `minSplitWork` runs on the calling thread alone, and so
 *   does an attention with fewer than `minAttentionWork` (a short context's).
 *
 * Platform-free: threads come from a `KernelThreadSpawner` (node-threads.ts: worker_threads;
 * a browser's Web Workers where the page is cross-origin isolated).
 */
import { EdgetierError } from '../core/errors.ts';
import type { KernelExports, WasmKernels } from './wasm-kernels.ts';

/** One thread as the pool sees it. */
export interface KernelThread {
  post(message: unknown): void;
  /** Its messages, an uncaught error, its exit. */
  listen(handlers: {
    message(message: unknown): void;
    error(error: unknown): void;
    exit(code: number): void;
  }): void;
  terminate(): Promise<void>;
}

/** Starts thread number `index` (1-based; the calling thread is 0) running the kernel thread source. */
export type KernelThreadSpawner = (index: number) => KernelThread;

/** Int32 indices of the control block (kernel-thread-source.ts reads the same layout). */
const CONTROL = {
  GEN: 0,
  CLAIM: 16,
  DONE: 32,
  STOP: 48,
  SLEEPERS: 49,
  ERROR: 50,
  SPIN: 51,
  KIND: 52,
  ARGS: 53,
  ERROR_TEXT: 80,
} as const;
const ERROR_CHARS = 256;
const CONTROL_BYTES = CONTROL.ERROR_TEXT * 4 + ERROR_CHARS * 2;
/** The claim word holds the chunk count and the next chunk in 8 bits each. */
const MAX_CHUNKS = 255;

/** The control block's job kinds of the GEMMs, by index (kernel-thread-source.ts's KERNELS). */
const KERNEL_KINDS = ['f32', 'q4', 'q8', 'attention', 'q4 int8', 'attention int8'] as const;
/** The control block's job kind of an attention over a float32 cache. */
const ATTENTION = 3;
/** A 4-bit GEMM over int8 activations (the relaxed-SIMD builds' gemmQ4I8Rows). */
const Q4_INT8 = 4;
/** An attention over an int8 cache (attentionUnitsI8). */
const ATTENTION_INT8 = 5;

/**
 * A prefill chunk's (or a decode step's) attention in one layer: `tokens` queries at consecutive
 * positions, the first seeing `t0` cached positions (the kernels' attentionUnits, thread-pool side).
 */
export interface AttentionJob {
  /** [tokens, heads, d] outputs. */
  out: number;
  /** The units' partial records (the calling thread merges them into `out`), `partialsBytes` long. */
  partials: number;
  /** At least the kernels' attentionPartialBytes(tokens, heads, d). */
  partialsBytes: number;
  /** Token i's queries [heads, d] at q + i * qStride bytes. */
  q: number;
  qStride: number;
  /** This layer's keys and values in the first cache chunk, kv head 0. */
  keys: number;
  values: number;
  chunkBytes: number;
  chunkPositions: number;
  t0: number;
  tokens: number;
  heads: number;
  kvHeads: number;
  d: number;
  scale: number;
  /**
   * Score scratch: thread i (0 the calling one) uses `scoresStride` bytes from scores + i *
   * scoresStride, which must hold a group's query heads' scores over the longest context.
   */
  scores: number;
  scoresStride: number;
  /** The cache holds int8 codes (kernels' kvStoreI8 layout; d a multiple of 16, at most 512), not float32. */
  int8?: boolean;
}

export interface ThreadPoolOptions {
  /** Threads in all, the calling one included (2 or more). */
  threads: number;
  /** Loads of the generation (or done) word before sleeping in Atomics.wait. */
  spin?: number;
  /** Multiply-adds below which a GEMM runs on the calling thread alone. */
  minSplitWork?: number;
  /** Chunks per thread a GEMM is cut into (more: finer balance, more claims); 1 to 255, 255 chunks at most in all. */
  chunksPerThread?: number;
  /** Multiply-adds (scores and weighted values) below which an attention runs on the calling thread alone. */
  minAttentionWork?: number;
  /**
   * Query heads of a kv group per attention unit (0: the pool's choice: whole groups, or each group cut
   * in parts where tokens x kv heads are too few to keep every thread busy).
   */
  attentionHeadsPerUnit?: number;
  /** How long the caller waits for a claimed chunk before calling the pool broken. */
  stallMs?: number;
  /** How long a thread may take to start. */
  startMs?: number;
}

/** First guesses, not yet measured (see the top comment). */
export const THREAD_POOL_DEFAULTS = {
  spin: 20_000,
  minSplitWork: 65_536,
  chunksPerThread: 4,
  minAttentionWork: 65_536,
  attentionHeadsPerUnit: 0,
  stallMs: 60_000,
  startMs: 30_000,
} as const;

const MAX_INT32 = 2 ** 31 - 1;

/**
 * Refuses, by name, a tuning the pool cannot honour (bench/cpu-engine-step.ts passes them from its
 * command line): 0 or NaN chunks per thread would cut a GEMM into no chunks and leave its output
 * unwritten, a spin past Int32 wraps in the control word, and setTimeout fires at once past 2^31 - 1 ms.
 */
function checkTuning(options: ThreadPoolOptions): void {
  const bad = (what: string) => new RangeError(`a kernel thread pool's ${what}`);
  const { spin, minSplitWork, chunksPerThread, stallMs, startMs, minAttentionWork, attentionHeadsPerUnit } =
    options;
  if (
    chunksPerThread !== undefined &&
    !(Number.isInteger(chunksPerThread) && chunksPerThread >= 1 && chunksPerThread <= MAX_CHUNKS)
  ) {
    throw bad(`chunksPerThread must be an integer from 1 to ${MAX_CHUNKS}, not ${chunksPerThread}`);
  }
  if (spin !== undefined && !(Number.isInteger(spin) && spin >= 0 && spin <= MAX_INT32)) {
    throw bad(`spin must be an integer from 0 to ${MAX_INT32}, not ${spin}`);
  }
  if (minSplitWork !== undefined && !(minSplitWork >= 0)) {
    throw bad(`minSplitWork must be 0 or more, not ${minSplitWork}`);
  }
  if (minAttentionWork !== undefined && !(minAttentionWork >= 0)) {
    throw bad(`minAttentionWork must be 0 or more, not ${minAttentionWork}`);
  }
  if (
    attentionHeadsPerUnit !== undefined &&
    !(Number.isInteger(attentionHeadsPerUnit) && attentionHeadsPerUnit >= 0)
  ) {
    throw bad(`attentionHeadsPerUnit must be an integer, 0 or more, not ${attentionHeadsPerUnit}`);
  }
  if (stallMs !== undefined && !(stallMs > 0)) {
    throw bad(`stallMs must be a positive number of milliseconds, not ${stallMs}`);
  }
  if (startMs !== undefined && !(startMs >= 1 && startMs <= MAX_INT32)) {
    throw bad(`startMs must be from 1 to ${MAX_INT32} ms, not ${startMs}`);
  }
}

export class KernelThreadPool {
  readonly threads: number;
  /** GEMMs run split, and on the calling thread alone (for the profile). */
  split = 0;
  local = 0;
  /** Attentions run split, and on the calling thread alone. */
  attentionSplit = 0;
  attentionLocal = 0;
  private readonly i32: Int32Array;
  private readonly u32: Uint32Array;
  private readonly f32: Float32Array;
  private readonly k: KernelExports;
  private readonly spin: number;
  private readonly minSplitWork: number;
  private readonly chunksPerThread: number;
  private readonly minAttentionWork: number;
  private readonly attentionHeadsPerUnit: number;
  private readonly stallMs: number;
  private gen = 0;
  private broken: string | null = null;
  private closed: Promise<void> | null = null;

  private constructor(
    kx: WasmKernels,
    control: number,
    private readonly workers: KernelThread[],
    options: ThreadPoolOptions,
  ) {
    this.threads = options.threads;
    this.k = kx.k;
    this.i32 = new Int32Array(kx.memory.buffer, control, CONTROL_BYTES / 4);
    this.u32 = new Uint32Array(kx.memory.buffer, control, CONTROL.ERROR_TEXT);
    this.f32 = new Float32Array(kx.memory.buffer, control, CONTROL.ERROR_TEXT);
    this.spin = options.spin ?? THREAD_POOL_DEFAULTS.spin;
    this.minSplitWork = options.minSplitWork ?? THREAD_POOL_DEFAULTS.minSplitWork;
    this.chunksPerThread = options.chunksPerThread ?? THREAD_POOL_DEFAULTS.chunksPerThread;
    this.minAttentionWork = options.minAttentionWork ?? THREAD_POOL_DEFAULTS.minAttentionWork;
    this.attentionHeadsPerUnit = options.attentionHeadsPerUnit ?? THREAD_POOL_DEFAULTS.attentionHeadsPerUnit;
    this.stallMs = options.stallMs ?? THREAD_POOL_DEFAULTS.stallMs;
    Atomics.store(this.i32, CONTROL.SPIN, this.spin);
  }

  /**
   * Starts `threads - 1` workers over `kx`'s memory (which must be shared), each instantiating
   * `module` (the threaded build `kx` runs); resolves once every one is ready, or rejects with the
   * first one's failure, every started thread terminated.
   */
  static async start(
    kx: WasmKernels,
    module: WebAssembly.Module,
    spawn: KernelThreadSpawner,
    options: ThreadPoolOptions,
  ): Promise<KernelThreadPool> {
    const { threads } = options;
    if (!(Number.isInteger(threads) && threads >= 2 && threads <= 64)) {
      throw new RangeError(`a kernel thread pool has 2 to 64 threads, not ${threads}`);
    }
    checkTuning(options);
    if (!(typeof SharedArrayBuffer !== 'undefined' && kx.memory.buffer instanceof SharedArrayBuffer)) {
      throw new EdgetierError(
        'load_failed',
        "The CPU engine's threads need a shared WebAssembly memory (WasmKernels.create with shared: true).",
      );
    }
    const control = kx.alloc(CONTROL_BYTES + 64);
    const aligned = Math.ceil(control / 64) * 64;
    const workers: KernelThread[] = [];
    const startMs = options.startMs ?? THREAD_POOL_DEFAULTS.startMs;
    const pool = new KernelThreadPool(kx, aligned, workers, options);
    const timers: ReturnType<typeof setTimeout>[] = [];
    try {
      await Promise.all(
        Array.from({ length: threads - 1 }, (_, i) => {
          const index = i + 1;
          const thread = spawn(index);
          workers.push(thread);
          return new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`thread ${index} did not start within ${startMs} ms`)),
              startMs,
            );
            timers.push(timer);
            const fail = (why: string) => {
              clearTimeout(timer);
              pool.broken ??= why;
              reject(new Error(why));
            };
            thread.listen({
              message(message) {
                const m = message as { type?: string; message?: string };
                if (m.type === 'ready') {
                  clearTimeout(timer);
                  resolve();
                } else if (m.type === 'failed') fail(`thread ${index} failed to start: ${m.message}`);
              },
              error: (error) =>
                fail(`thread ${index} failed: ${error instanceof Error ? error.message : String(error)}`),
              exit: (code) => {
                if (pool.closed === null) fail(`thread ${index} exited (code ${code})`);
              },
            });
            thread.post({ index, module, memory: kx.memory, control: aligned });
          });
        }),
      );
    } catch (error) {
      for (const timer of timers) clearTimeout(timer);
      await pool.close();
      throw new EdgetierError(
        'load_failed',
        `The CPU engine could not start its ${threads} threads: ${(error as Error).message}. Use one thread (no --threads).`,
        { cause: error },
      );
    }
    return pool;
  }

  /** Workers alive (not yet terminated by close). */
  get running(): number {
    return this.closed === null ? this.workers.length : 0;
  }

  /** Workers asleep in Atomics.wait right now (idle past their spin). */
  get sleeping(): number {
    return Atomics.load(this.i32, CONTROL.SLEEPERS);
  }

  /** y [tokens, rows] = W x: float32 weights (gemmF32's arguments). */
  gemmF32(y: number, w: number, x: number, rows: number, cols: number, tokens: number): void {
    if (rows * cols * tokens < this.minSplitWork) {
      this.local++;
      this.k.gemmF32(y, w, x, rows, cols, tokens);
      return;
    }
    this.run(0, y, w, 0, x, 0, rows, cols, tokens);
  }

  /**
   * 4-bit (kind 'q4') or 8-bit ('q8') weights: gemmQ4's / gemmQ8's arguments; 'q4 int8': gemmQ4I8's
   * (the relaxed-SIMD builds' 4-bit GEMM over quantizeActivationsI8Tiled's layout).
   */
  gemmQ(
    kind: 'q4' | 'q8' | 'q4 int8',
    y: number,
    w: number,
    ws: number,
    xq: number,
    xs: number,
    rows: number,
    blocks: number,
    tokens: number,
  ): void {
    if (rows * blocks * 32 * tokens < this.minSplitWork) {
      this.local++;
      if (kind === 'q4') this.k.gemmQ4(y, w, ws, xq, xs, rows, blocks, tokens);
      else if (kind === 'q8') this.k.gemmQ8(y, w, ws, xq, xs, rows, blocks, tokens);
      else relaxedGemm(this.k, 'gemmQ4I8')(y, w, ws, xq, xs, rows, blocks, tokens);
      return;
    }
    this.run(kind === 'q4' ? 1 : kind === 'q8' ? 2 : Q4_INT8, y, w, ws, xq, xs, rows, blocks, tokens);
  }

  /**
   * One layer's attention for `job.tokens` queries (the kernels' `attention` per token, on one
   * thread): split into units of (token, kv head, perUnit query heads of its group, segment), each
   * computed whole by the thread that claims it, with its own score scratch; then the calling thread
   * merges each head's segments (attentionCombine).
   */
  attention(job: AttentionJob): void {
    const { tokens, heads, kvHeads, d, t0, scores, scoresStride } = job;
    // The kernel takes these as i32 and loops over them: a fraction would run truncated, a 0 divide by
    // zero (heads) or loop forever (chunkPositions).
    for (const field of ['heads', 'kvHeads', 'tokens', 't0', 'd', 'chunkPositions'] as const) {
      const value = job[field];
      if (!(Number.isInteger(value) && value >= 1 && value <= MAX_INT32)) {
        throw new RangeError(
          `an attention's ${field} must be a whole number from 1 to ${MAX_INT32}, not ${value}`,
        );
      }
    }
    const group = heads / kvHeads;
    const last = t0 + tokens - 1;
    if (!(Number.isInteger(group) && tokens >= 1 && t0 >= 1)) {
      throw new RangeError(
        `an attention needs 1 or more tokens seeing 1 or more positions, and heads a multiple of kv heads: not ${tokens} tokens from ${t0} positions, ${heads} heads over ${kvHeads}`,
      );
    }
    // The int8 kernels read 16 elements at a time, and their int32 score sums hold d up to 512.
    if (job.int8 && !(d % 16 === 0 && d <= 512)) {
      throw new RangeError(`an attention over an int8 cache needs d a multiple of 16, at most 512, not ${d}`);
    }
    // Scratch each thread reads and writes alone: one that is too small would spill into the next's.
    if (group * last * 4 > scoresStride) {
      throw new RangeError(
        `an attention over ${last} positions needs ${group * last * 4} bytes of scores per thread, not ${scoresStride}`,
      );
    }
    // Records the units write side by side: too few bytes would spill into what follows them.
    const partialsNeeded = this.k.attentionPartialBytes(tokens, heads, d);
    if (!(job.partialsBytes >= partialsNeeded)) {
      throw new RangeError(
        `an attention of ${tokens} tokens over ${heads} heads of ${d} needs ${partialsNeeded} bytes of partial records, not ${job.partialsBytes}`,
      );
    }
    // Multiply-adds: a score and a weighted value per query head, position and element.
    const work = 2 * heads * d * (tokens * t0 + (tokens * (tokens - 1)) / 2);
    // Segment slots: the most any token has (a token with fewer leaves its spare slots empty units).
    // Not the last token's alone: segments lengthen by a chunk where the context passes 16 segments'
    // worth, so the count falls there (64-position chunks: 16 at 4096 positions, 13 at 4097).
    let segs = 1;
    for (let t = t0; t <= last; t++) segs = Math.max(segs, this.k.attentionSegments(t, job.chunkPositions));
    if (work < this.minAttentionWork) {
      this.attentionLocal++;
      this.attentionUnits(job, group, segs, 0, tokens * kvHeads * segs, scores);
      this.k.attentionCombine(job.out, job.partials, tokens, t0, heads, d, job.chunkPositions);
      return;
    }
    const perUnit = this.headsPerUnit(group, tokens * kvHeads * segs);
    const units = tokens * kvHeads * Math.ceil(group / perUnit) * segs;
    const chunks = Math.min(MAX_CHUNKS, units);
    const chunkUnits = Math.ceil(units / chunks);
    this.check();
    this.attentionSplit++;
    const { u32 } = this;
    u32[CONTROL.ARGS] = job.partials;
    u32[CONTROL.ARGS + 1] = job.q;
    u32[CONTROL.ARGS + 2] = job.qStride;
    u32[CONTROL.ARGS + 3] = job.keys;
    u32[CONTROL.ARGS + 4] = job.values;
    u32[CONTROL.ARGS + 5] = job.chunkBytes;
    u32[CONTROL.ARGS + 6] = job.chunkPositions;
    u32[CONTROL.ARGS + 7] = t0;
    u32[CONTROL.ARGS + 8] = heads;
    u32[CONTROL.ARGS + 9] = kvHeads;
    u32[CONTROL.ARGS + 10] = d;
    this.f32[CONTROL.ARGS + 11] = job.scale;
    u32[CONTROL.ARGS + 12] = scores;
    u32[CONTROL.ARGS + 13] = scoresStride;
    u32[CONTROL.ARGS + 14] = perUnit;
    u32[CONTROL.ARGS + 15] = units;
    u32[CONTROL.ARGS + 16] = chunkUnits;
    u32[CONTROL.ARGS + 17] = segs;
    this.dispatch(
      job.int8 ? ATTENTION_INT8 : ATTENTION,
      Math.ceil(units / chunkUnits),
      (chunk) => {
        const u0 = chunk * chunkUnits;
        this.attentionUnits(job, perUnit, segs, u0, Math.min(units, u0 + chunkUnits), scores);
      },
      'attention',
    );
    this.k.attentionCombine(job.out, job.partials, tokens, t0, heads, d, job.chunkPositions);
  }

  /**
   * Query heads per attention unit: the tuning's, or whole groups where tokens x kv heads x segments
   * give every thread two units or more, else groups cut into as many parts as bring them there (a
   * decode step under 257 positions of a model with 3 kv heads of 3 query heads on 2 threads: 6
   * units, of 2 heads and of 1, rather than 3 whole groups, 2 for one thread and 1 for the other).
   */
  private headsPerUnit(group: number, groups: number): number {
    if (this.attentionHeadsPerUnit > 0) return Math.min(group, this.attentionHeadsPerUnit);
    const parts = Math.min(group, Math.ceil((2 * this.threads) / groups));
    return Math.ceil(group / parts);
  }

  private attentionUnits(
    job: AttentionJob,
    perUnit: number,
    segs: number,
    u0: number,
    u1: number,
    scores: number,
  ): void {
    (job.int8 ? this.k.attentionUnitsI8 : this.k.attentionUnits)(
      job.partials,
      job.q,
      job.qStride,
      job.keys,
      job.values,
      job.chunkBytes,
      job.chunkPositions,
      job.t0,
      job.heads,
      job.kvHeads,
      job.d,
      job.scale,
      scores,
      perUnit,
      segs,
      u0,
      u1,
    );
  }

  /**
   * Stops every worker and waits for them to end. Idempotent; a pool is closed once, for good.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      Atomics.store(this.i32, CONTROL.STOP, 1);
      Atomics.add(this.i32, CONTROL.GEN, 1);
      Atomics.notify(this.i32, CONTROL.GEN);
      await Promise.all(this.workers.map((worker) => worker.terminate()));
    })();
    return this.closed;
  }

  private run(
    kind: number,
    y: number,
    w: number,
    ws: number,
    x: number,
    xs: number,
    rows: number,
    width: number,
    tokens: number,
  ): void {
    this.check();
    this.split++;
    const { u32 } = this;
    const target = Math.min(MAX_CHUNKS, this.threads * this.chunksPerThread, Math.ceil(rows / 4));
    // Chunks of a multiple of 4 rows (the f32 kernel's row group), so every chunk but the last is full.
    const chunkRows = Math.ceil(rows / target / 4) * 4;
    const chunks = Math.ceil(rows / chunkRows);
    u32[CONTROL.ARGS] = y;
    u32[CONTROL.ARGS + 1] = w;
    u32[CONTROL.ARGS + 2] = ws;
    u32[CONTROL.ARGS + 3] = x;
    u32[CONTROL.ARGS + 4] = xs;
    u32[CONTROL.ARGS + 5] = rows;
    u32[CONTROL.ARGS + 6] = width;
    u32[CONTROL.ARGS + 7] = tokens;
    u32[CONTROL.ARGS + 8] = chunkRows;
    this.dispatch(
      kind,
      chunks,
      (chunk) => {
        const r0 = chunk * chunkRows;
        const r1 = Math.min(rows, r0 + chunkRows);
        if (kind === 0) this.k.gemmF32Rows(y, w, x, rows, width, tokens, r0, r1);
        else if (kind === 1) this.k.gemmQ4Rows(y, w, ws, x, xs, rows, width, tokens, r0, r1);
        else if (kind === 2) this.k.gemmQ8Rows(y, w, ws, x, xs, rows, width, tokens, r0, r1);
        else relaxedGemm(this.k, 'gemmQ4I8Rows')(y, w, ws, x, xs, rows, width, tokens, r0, r1);
      },
      `${KERNEL_KINDS[kind]} GEMM`,
    );
  }

  /** Refuses a job on a pool that is closed or whose threads stopped. */
  private check(): void {
    if (this.closed !== null) throw new EdgetierError('internal', "The CPU engine's threads were shut down.");
    if (this.broken !== null) {
      throw new EdgetierError(
        'generation_failed',
        `The CPU engine's threads stopped: ${this.broken}. Unload and load the model again, or run on one thread (no --threads).`,
      );
    }
  }

  /**
   * Publishes a job of `chunks` chunks whose arguments are already in the control block, claims
   * chunks like every worker (running each with `runChunk`), and waits for those the workers claimed.
   */
  private dispatch(kind: number, chunks: number, runChunk: (chunk: number) => void, what: string): void {
    const { i32 } = this;
    i32[CONTROL.KIND] = kind;
    Atomics.store(i32, CONTROL.DONE, 0);
    this.gen = (this.gen + 1) | 0;
    const tag = (this.gen & 0x7fff) << 16;
    // Publishing the claim word opens the job; the generation word wakes the workers.
    Atomics.store(i32, CONTROL.CLAIM, tag | chunks);
    Atomics.add(i32, CONTROL.GEN, 1);
    if (Atomics.load(i32, CONTROL.SLEEPERS) > 0) Atomics.notify(i32, CONTROL.GEN);

    let failure: unknown = null;
    let claimed = chunks;
    for (;;) {
      const v = Atomics.load(i32, CONTROL.CLAIM);
      const next = (v >>> 8) & 0xff;
      if (next >= chunks) break;
      if (failure !== null) {
        // Close the job to further claims; wait only for the chunks already claimed.
        if (Atomics.compareExchange(i32, CONTROL.CLAIM, v, tag | (chunks << 8) | chunks) === v) {
          claimed = next;
          break;
        }
        continue;
      }
      if (Atomics.compareExchange(i32, CONTROL.CLAIM, v, v + 256) !== v) continue;
      try {
        runChunk(next);
      } catch (error) {
        failure = error;
      }
      Atomics.add(i32, CONTROL.DONE, 1);
    }
    this.waitDone(claimed);
    // Every claimed chunk is counted: read (and clear) a worker's failure before the next job.
    let threadFailure: string | null = null;
    if (Atomics.load(i32, CONTROL.ERROR) !== 0) {
      const chars = new Uint16Array(i32.buffer, i32.byteOffset + CONTROL.ERROR_TEXT * 4, ERROR_CHARS);
      threadFailure = '';
      for (let i = 0; i < ERROR_CHARS && chars[i] !== 0; i++) threadFailure += String.fromCharCode(chars[i]!);
      Atomics.store(i32, CONTROL.ERROR, 0);
    }
    if (failure !== null) {
      throw new EdgetierError(
        'generation_failed',
        `The CPU engine failed in ${what} on the calling thread: ${(failure as Error).message ?? String(failure)}`,
        { cause: failure },
      );
    }
    if (threadFailure !== null) {
      throw new EdgetierError('generation_failed', `A CPU engine thread failed: ${threadFailure}`);
    }
  }

  /** Waits until `count` chunks are counted done: a bounded spin, then Atomics.wait in slices. */
  private waitDone(count: number): void {
    const { i32 } = this;
    let done = Atomics.load(i32, CONTROL.DONE);
    for (let i = 0; done < count && i < this.spin; i++) done = Atomics.load(i32, CONTROL.DONE);
    if (done >= count) return;
    let last = done;
    let since = performance.now();
    while (done < count) {
      Atomics.wait(i32, CONTROL.DONE, done, 20);
      done = Atomics.load(i32, CONTROL.DONE);
      const now = performance.now();
      if (done !== last) {
        last = done;
        since = now;
      } else if (now - since > this.stallMs) {
        this.broken = `a thread held a chunk for more than ${this.stallMs} ms`;
        throw new EdgetierError(
          'generation_failed',
          `The CPU engine's threads stopped responding (${this.broken}); unload and load the model again.`,
        );
      }
    }
  }
}

/** A relaxed-SIMD build's kernel (a WebAssembly export: no `this`), or an internal error naming it where the build has none. */
export function relaxedGemm<K extends 'gemmQ4I8' | 'gemmQ4I8Rows'>(
  k: KernelExports,
  name: K,
): NonNullable<KernelExports[K]> {
  const kernel = k[name];
  if (!kernel)
    throw new EdgetierError(
      'internal',
      `The CPU engine's kernels build has no ${name} (not a relaxed-SIMD build).`,
    );
  return kernel as NonNullable<KernelExports[K]>;
}
