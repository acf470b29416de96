/**
 * The CPU engine's thread pool (src/cpu-engine/thread-pool.ts) on real worker_threads over one shared
 * WebAssembly.Memory: two threads give the same tokens and the same logits, bit for bit, as one
 * (every GEMM split, prefill chunks and decode steps, fp32/q8/q4); closing the pool, unloading the
 * engine and an interrupt leave no thread working; a thread that fails, at start or in a kernel, or
 * dies, surfaces as a clear error instead of a hang; a reused memory of the other kind is refused;
 * the browser side grants threads only to a cross-origin isolated page.
 */
import { copyFile, mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import type { CpuDecoder } from '../../src/cpu-engine/decoder.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { loadCpuDecoder } from '../../src/cpu-engine/node-session.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import {
  type AttentionJob,
  type KernelThread,
  KernelThreadPool,
  type KernelThreadSpawner,
} from '../../src/cpu-engine/thread-pool.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { webKernelThreadSpawner, webKernelThreads } from '../../src/cpu-engine/web-threads.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

let root: string;
const PROMPT = Array.from({ length: 45 }, (_, i) => (i * 53 + 7) % 384);

async function model(name: string, dtype: 'fp32' | 'q8' | 'q4', family: 'llama' | 'qwen3' = 'qwen3') {
  const checkpoint = join(root, `${name}-ckpt`);
  const out = join(root, name);
  await makeCheckpoint(checkpoint, { family, tied: false, seed: 31, linearScale: 3 });
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await convertCommand.run([checkpoint, '--out', out, '--dtype', dtype]);
  } finally {
    process.stderr.write = write;
  }
  return out;
}

/** worker_threads threads whose exits are counted. */
function countingSpawner(): { spawn: KernelThreadSpawner; started: () => number; exited: () => number } {
  let started = 0;
  let exited = 0;
  const spawn: KernelThreadSpawner = (index) => {
    const thread = nodeKernelThreadSpawner(index);
    started++;
    return {
      ...thread,
      listen(handlers) {
        thread.listen({
          ...handlers,
          exit(code) {
            exited++;
            handlers.exit(code);
          },
        });
      },
    } satisfies KernelThread;
  };
  return { spawn, started: () => started, exited: () => exited };
}

const until = async (done: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await done()) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return done();
};

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-cpu-threads-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('two threads = one thread, bit for bit', () => {
  it.each(['fp32', 'q8', 'q4'] as const)(
    '%s: prefill logits, greedy tokens and every step’s logits are identical',
    async (dtype) => {
      const dir = await model(`same-${dtype}`, dtype);
      const one = await loadCpuDecoder(dir, dtype);
      const counting = countingSpawner();
      // Every GEMM split (no size threshold), in many small chunks, so both threads take rows.
      const two = await loadCpuDecoder(dir, dtype, {
        threads: 2,
        spawn: counting.spawn,
        pool: { minSplitWork: 0, chunksPerThread: 16 },
      });
      try {
        expect(one.threads).toBe(1);
        expect(one.pool).toBeNull();
        expect(two.threads).toBe(2);
        let a = one.forward(PROMPT);
        let b = two.forward(PROMPT);
        expect(bits(b)).toEqual(bits(a));
        const tokens: number[][] = [[], []];
        for (let step = 0; step < 16; step++) {
          const next = [a, b].map((logits) => logits.indexOf(Math.max(...logits)));
          tokens[0]!.push(next[0]!);
          tokens[1]!.push(next[1]!);
          a = one.forward([next[0]!]);
          b = two.forward([next[1]!]);
          expect(bits(b), `step ${step}`).toEqual(bits(a));
        }
        expect(tokens[1]).toEqual(tokens[0]);
        expect(new Set(tokens[0]).size).toBeGreaterThan(3);
        expect(two.pool!.split).toBeGreaterThan(0);
        expect(two.pool!.local).toBe(0);
      } finally {
        await two.dispose();
      }
      // Closing the pool ends its worker.
      expect(counting.started()).toBe(1);
      expect(await until(() => counting.exited() === 1)).toBe(true);
      expect(two.pool!.running).toBe(0);
      expect(() => two.forward([1])).toThrow(/shut down/);
    },
  );

  it("three threads over odd row counts (the LM head's 1001 rows, an fp32 MLP of 685), decode and prefill", async () => {
    const dims = { hiddenSize: 128, numHeads: 4, numKvHeads: 2, vocabSize: 1001 };
    for (const [dtype, intermediateSize] of [
      ['fp32', 685],
      ['q8', 352],
    ] as const) {
      const checkpoint = join(root, `odd-${dtype}-ckpt`);
      const dir = join(root, `odd-${dtype}`);
      await makeCheckpoint(checkpoint, {
        family: 'llama',
        tied: false,
        seed: 5,
        linearScale: 3,
        intermediateSize,
        ...dims,
      });
      const write = process.stderr.write;
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        await convertCommand.run([checkpoint, '--out', dir, '--dtype', dtype]);
      } finally {
        process.stderr.write = write;
      }
      const one = await loadCpuDecoder(dir, dtype);
      const three = await loadCpuDecoder(dir, dtype, {
        threads: 3,
        spawn: nodeKernelThreadSpawner,
        pool: { minSplitWork: 0, chunksPerThread: 5 },
      });
      try {
        expect(bits(three.forward(PROMPT.slice(0, 37))), dtype).toEqual(
          bits(one.forward(PROMPT.slice(0, 37))),
        );
        for (let step = 0; step < 6; step++) {
          expect(bits(three.forward([step * 41])), `${dtype} step ${step}`).toEqual(
            bits(one.forward([step * 41])),
          );
        }
        expect(three.pool!.local).toBe(0);
      } finally {
        await three.dispose();
      }
    }
  });

  it('four threads too, with the default split threshold', async () => {
    const dir = await model('four-q4', 'q4', 'llama');
    const one = await loadCpuDecoder(dir, 'q4');
    const four = await loadCpuDecoder(dir, 'q4', { threads: 4, spawn: nodeKernelThreadSpawner });
    try {
      expect(bits(four.forward(PROMPT))).toEqual(bits(one.forward(PROMPT)));
      expect(bits(four.forward([5]))).toEqual(bits(one.forward([5])));
      expect(four.pool!.split + four.pool!.local).toBeGreaterThan(0);
    } finally {
      await four.dispose();
    }
  });
});

describe('the pool ends its threads and never hangs', () => {
  it('a thread that cannot start fails the start with a clear error, every thread ended', async () => {
    const counting = countingSpawner();
    const kx = await WasmKernels.create(await kernelModule(true), { shared: true });
    // The plain build imports an unshared memory: instantiating it over the shared one fails.
    const error = await KernelThreadPool.start(kx, await kernelModule(false), counting.spawn, {
      threads: 3,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as EdgetierError).code).toBe('load_failed');
    expect((error as Error).message).toMatch(
      /^The CPU engine could not start its 3 threads: thread \d failed to start: .+\. Use one thread \(no --threads\)\.$/,
    );
    expect(counting.started()).toBe(2);
    expect(await until(() => counting.exited() === 2)).toBe(true);
  });

  it('with onThreadsFailed, a pool that cannot start leaves one thread (the same tokens) and says why', async () => {
    const dir = await model('fallback-q8', 'q8');
    const one = await loadCpuDecoder(dir, 'q8');
    // Threads that fail at once, as a browser's do when their script cannot load.
    const failing: KernelThreadSpawner = () => ({
      post() {},
      listen(handlers) {
        setTimeout(() => handlers.error(new Error('no threads today')), 0);
      },
      terminate: async () => {},
    });
    const reasons: string[] = [];
    const fallback = await loadCpuDecoder(dir, 'q8', {
      threads: 2,
      spawn: failing,
      onThreadsFailed: (reason) => reasons.push(reason),
    });
    expect(reasons).toEqual(['thread 1 failed: no threads today']);
    expect(fallback.threads).toBe(1);
    expect(fallback.pool).toBeNull();
    expect(bits(fallback.forward(PROMPT))).toEqual(bits(one.forward(PROMPT)));
    // Without it, the load fails as before.
    await expect(loadCpuDecoder(dir, 'q8', { threads: 2, spawn: failing })).rejects.toThrow(
      'The CPU engine could not start its 2 threads: thread 1 failed: no threads today.',
    );
  });

  it('a reused memory of the other kind is refused by name', async () => {
    const shared = await WasmKernels.create(await kernelModule(true), { shared: true });
    await expect(WasmKernels.create(await kernelModule(), { reuse: shared.memory })).rejects.toThrow(
      'The CPU engine cannot reuse a shared memory for one thread.',
    );
    const plain = await WasmKernels.create(await kernelModule());
    await expect(
      WasmKernels.create(await kernelModule(true), { shared: true, reuse: plain.memory }),
    ).rejects.toThrow('The CPU engine cannot reuse an unshared memory for threads.');
  });

  it.each([
    // 0 (or NaN) chunks per thread used to start a pool whose GEMMs cut 0 chunks: y left untouched.
    ['chunksPerThread must be an integer from 1 to 255, not 0', { chunksPerThread: 0 }],
    ['chunksPerThread must be an integer from 1 to 255, not NaN', { chunksPerThread: Number.NaN }],
    ['chunksPerThread must be an integer from 1 to 255, not 1.5', { chunksPerThread: 1.5 }],
    // The spin count lives in an Int32 word: 2^31 would wrap negative (no spin at all on the workers).
    ['spin must be an integer from 0 to 2147483647, not -1', { spin: -1 }],
    ['spin must be an integer from 0 to 2147483647, not 2147483648', { spin: 2 ** 31 }],
    ['minSplitWork must be 0 or more, not NaN', { minSplitWork: Number.NaN }],
    ['minAttentionWork must be 0 or more, not -1', { minAttentionWork: -1 }],
    ['attentionHeadsPerUnit must be an integer, 0 or more, not 1.5', { attentionHeadsPerUnit: 1.5 }],
    ['stallMs must be a positive number of milliseconds, not 0', { stallMs: 0 }],
    // setTimeout fires at once for a delay past 2^31 - 1 ms: "did not start within Infinity ms".
    ['startMs must be from 1 to 2147483647 ms, not Infinity', { startMs: Number.POSITIVE_INFINITY }],
  ] as const)(
    'a pool tuning that cannot work is refused by name, before any thread starts: %s',
    async (message, tuning) => {
      const counting = countingSpawner();
      const kx = await WasmKernels.create(await kernelModule(true), { shared: true });
      const error = await KernelThreadPool.start(kx, await kernelModule(true), counting.spawn, {
        threads: 2,
        ...tuning,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe(`a kernel thread pool's ${message}`);
      expect(counting.started()).toBe(0);
    },
  );

  it('the smallest tuning still computes every row (1 chunk per thread, no spin)', async () => {
    const kx = await WasmKernels.create(await kernelModule(true), { shared: true });
    const pool = await KernelThreadPool.start(kx, await kernelModule(true), nodeKernelThreadSpawner, {
      threads: 3,
      minSplitWork: 0,
      chunksPerThread: 1,
      spin: 0,
    });
    try {
      for (const rows of [1, 3, 7, 29, 101]) {
        const cols = 48;
        const x = kx.putF32(Float32Array.from({ length: cols * 3 }, (_, i) => Math.sin(i)));
        const w = kx.putF32(Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i)));
        const y = kx.alloc(rows * 3 * 4);
        const yLocal = kx.alloc(rows * 3 * 4);
        kx.f32(y, rows * 3).fill(Number.NaN);
        pool.gemmF32(y, w, x, rows, cols, 3);
        kx.k.gemmF32(yLocal, w, x, rows, cols, 3);
        expect(bits(kx.f32(y, rows * 3)), `rows ${rows}`).toEqual(bits(kx.f32(yLocal, rows * 3)));
      }
    } finally {
      await pool.close();
    }
  });

  it('an unshared memory is refused by name', async () => {
    const kx = await WasmKernels.create(await kernelModule());
    await expect(
      KernelThreadPool.start(kx, await kernelModule(true), nodeKernelThreadSpawner, { threads: 2 }),
    ).rejects.toThrow("The CPU engine's threads need a shared WebAssembly memory");
  });

  it('a kernel that traps on any thread throws a clear error, and the pool still works after', async () => {
    const kx = await WasmKernels.create(await kernelModule(true), { shared: true });
    const pool = await KernelThreadPool.start(kx, await kernelModule(true), nodeKernelThreadSpawner, {
      threads: 2,
      minSplitWork: 0,
      chunksPerThread: 32,
    });
    try {
      const rows = 256;
      const cols = 64;
      const x = kx.putF32(Float32Array.from({ length: cols }, (_, i) => Math.sin(i)));
      const w = kx.putF32(Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i)));
      const y = kx.alloc(rows * 4);
      const yLocal = kx.alloc(rows * 4);
      const messages: string[] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        // Rows past the end of memory: whichever thread claims them traps.
        const error = (() => {
          try {
            pool.gemmF32(y, kx.memory.buffer.byteLength - 4 * cols * 8, x, rows, cols, 1);
          } catch (e) {
            return e;
          }
          return null;
        })();
        expect(error).toBeInstanceOf(EdgetierError);
        expect((error as EdgetierError).code).toBe('generation_failed');
        messages.push((error as Error).message);
      }
      for (const message of messages) {
        expect(message).toMatch(
          /^(The CPU engine failed in f32 GEMM on the calling thread|A CPU engine thread failed: thread 1 in gemmF32Rows): .*out of bounds/,
        );
      }
      console.info(
        `trapping GEMMs: ${messages.filter((m) => m.includes('thread 1')).length} of ${messages.length} reported by the worker`,
      );
      pool.gemmF32(y, w, x, rows, cols, 1);
      kx.k.gemmF32(yLocal, w, x, rows, cols, 1);
      expect(bits(kx.f32(y, rows))).toEqual(bits(kx.f32(yLocal, rows)));
    } finally {
      await pool.close();
    }
  });

  it('a thread that dies: the next GEMM says so instead of waiting for it', async () => {
    const kx = await WasmKernels.create(await kernelModule(true), { shared: true });
    const workers: KernelThread[] = [];
    const spawn: KernelThreadSpawner = (index) => {
      const thread = nodeKernelThreadSpawner(index);
      workers.push(thread);
      return thread;
    };
    const pool = await KernelThreadPool.start(kx, await kernelModule(true), spawn, {
      threads: 2,
      minSplitWork: 0,
    });
    try {
      const rows = 64;
      const x = kx.putF32(new Float32Array(32).fill(1));
      const w = kx.putF32(new Float32Array(rows * 32).fill(0.5));
      const y = kx.alloc(rows * 4);
      pool.gemmF32(y, w, x, rows, 32, 1);
      expect(Array.from(kx.f32(y, rows))).toEqual(new Array(rows).fill(16));
      await workers[0]!.terminate();
      await new Promise((r) => setTimeout(r, 50));
      expect(() => pool.gemmF32(y, w, x, rows, 32, 1)).toThrow(
        /^The CPU engine's threads stopped: thread 1 exited \(code \d+\)\. Unload and load the model again, or run on one thread \(no --threads\)\.$/,
      );
    } finally {
      await pool.close();
    }
  });
});

/** Float32 values from a seed, in [-1, 1). */
function random(n: number, seed: number): Float32Array {
  let x = seed * 2654435761;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 31 - 1;
  });
}

/** The job's attention on one thread, token by token, as the decoder without a pool runs it: outputs at `want`. */
function attentionTokenByToken(k: WasmKernels['k'], want: number, job: AttentionJob): void {
  for (let i = 0; i < job.tokens; i++) {
    (job.int8 ? k.attentionI8 : k.attention)(
      want + i * job.heads * job.d * 4,
      job.q + i * job.qStride,
      job.keys,
      job.values,
      job.chunkBytes,
      job.chunkPositions,
      job.t0 + i,
      job.heads,
      job.kvHeads,
      job.d,
      job.scale,
      job.scores,
      job.partials,
    );
  }
}

describe('attention on the pool: each unit whole on one thread, bit for bit', () => {
  /** (heads, kvHeads, d): groups of 2, 3 (the 135M twin's 9/3/64), 1, 6, and a d with a scalar tail. */
  const SHAPES = [
    [4, 2, 16],
    [9, 3, 64],
    [8, 8, 8],
    [12, 2, 12],
    [6, 1, 10],
  ] as const;
  /** The int8 cache's shapes (d a multiple of 16): groups of 2, 3, 1, 6; one and two 32-element blocks and a 16 tail. */
  const INT8_SHAPES = [
    [4, 2, 16],
    [9, 3, 64],
    [8, 8, 32],
    [12, 2, 48],
  ] as const;
  /**
   * (positions the first query sees, query tokens): one position, inside the first cache chunk, at
   * and across its end, a prefill chunk of 32 (with 8 kv heads: 256 units, more than the 255 chunks a
   * job holds), and contexts spanning 2 to 4 cache chunks. With chunks of 8 positions, contexts of 1 to
   * 8 segments (of 32 positions), and prefill chunks whose tokens have different segment counts.
   */
  const JOBS = [
    [1, 1],
    [5, 3],
    [63, 2],
    [64, 1],
    [65, 1],
    [1, 32],
    [100, 32],
    [130, 7],
    [200, 1],
  ] as const;
  const MAX_T = 231;

  it.each([
    [2, 'float32'],
    [3, 'float32'],
    [2, 'int8'],
    [3, 'int8'],
  ] as const)(
    '%i threads, %s cache: contexts across cache chunks, prefill chunks, GQA groups of 1 to 6, one head to whole groups per unit',
    async (threads, cacheType) => {
      const int8 = cacheType === 'int8';
      const module = await kernelModule(true);
      const kx = await WasmKernels.create(module, { shared: true });
      for (const [CHUNK, perUnit] of [
        [64, 0],
        [64, 1],
        [64, 2],
        [64, 6],
        [8, 0],
        [8, 1],
      ] as const) {
        const pool = await KernelThreadPool.start(kx, module, nodeKernelThreadSpawner, {
          threads,
          minAttentionWork: 0,
          attentionHeadsPerUnit: perUnit,
        });
        try {
          for (const [heads, kvHeads, d] of int8 ? INT8_SHAPES : SHAPES) {
            const group = heads / kvHeads;
            // Per cache chunk: [another layer's entries | keys [kvHeads][CHUNK][d] | values | padding]
            // (int8: a head's codes and scales, as bytes of the same random floats: finite scales).
            const other = 24;
            const headFloats = int8 ? kx.k.kvHeadChunkBytesI8(CHUNK, d) / 4 : CHUNK * d;
            const chunkFloats = other + 2 * kvHeads * headFloats + 8;
            const cache = kx.putF32(random(Math.ceil(MAX_T / CHUNK) * chunkFloats, heads * 7 + d));
            const keys = cache + other * 4;
            const values = keys + kvHeads * headFloats * 4;
            const qStride = (heads + 2 * kvHeads) * d * 4;
            const q = kx.putF32(random(32 * (qStride / 4), d));
            const outFloats = 32 * heads * d;
            const out = kx.alloc(outFloats * 4 + 16);
            const want = kx.alloc(outFloats * 4);
            const scoresStride = group * MAX_T * 4;
            const scores = kx.alloc(threads * scoresStride + 16);
            const partialBytes = kx.k.attentionPartialBytes(32, heads, d);
            const partials = kx.alloc(partialBytes + 16);
            const guards = [out + outFloats * 4, scores + threads * scoresStride, partials + partialBytes];
            for (const g of guards) kx.f32(g, 4).fill(42);
            // Each worker's scratch starts as NaN: one whose scratch changes took a unit.
            kx.f32(scores + scoresStride, ((threads - 1) * scoresStride) / 4).fill(Number.NaN);
            const workersTook = () =>
              Array.from({ length: threads - 1 }, (_, i) =>
                kx.f32(scores + (i + 1) * scoresStride, scoresStride / 4).some((v) => !Number.isNaN(v)),
              );
            const job = (t0: number, tokens: number) => ({
              out,
              partials,
              partialsBytes: partialBytes,
              q,
              qStride,
              keys,
              values,
              chunkBytes: chunkFloats * 4,
              chunkPositions: CHUNK,
              t0,
              tokens,
              heads,
              kvHeads,
              d,
              scale: 1 / Math.sqrt(d),
              scores,
              scoresStride,
              int8,
            });
            for (const [t0, tokens] of JOBS) {
              const what = `${heads}/${kvHeads} heads, d ${d}, chunks of ${CHUNK}, ${perUnit} per unit, t0 ${t0}, ${tokens} tokens`;
              kx.f32(out, outFloats).fill(Number.NaN);
              pool.attention(job(t0, tokens));
              attentionTokenByToken(kx.k, want, job(t0, tokens));
              const n = tokens * heads * d;
              expect(bits(kx.f32(out, n)), what).toEqual(bits(kx.f32(want, n)));
              for (const g of guards) expect(Array.from(kx.f32(g, 4)), what).toEqual([42, 42, 42, 42]);
            }
            // Every worker takes units (its own scratch) once it runs: jobs back to back (which keep the
            // workers spinning rather than asleep) until each has, for as long as a busy machine may
            // leave one unscheduled.
            const end = Date.now() + 10_000;
            while (!workersTook().every(Boolean) && Date.now() < end) pool.attention(job(200, 32));
            expect(
              workersTook(),
              `${heads}/${kvHeads} heads, chunks of ${CHUNK}, ${perUnit} per unit`,
            ).toEqual(new Array(threads - 1).fill(true));
          }
          expect(pool.attentionSplit).toBeGreaterThan(0);
          expect(pool.attentionLocal).toBe(0);
        } finally {
          await pool.close();
        }
      }
    },
  );

  it.each([0, Number.POSITIVE_INFINITY])(
    'a prefill chunk across a context where segments lengthen (fewer segments after than before), split at threshold %d, equals token by token',
    async (minAttentionWork) => {
      // With chunks of 4 positions, 256 positions are 16 segments of 4 chunks, 257 are 13 of 5 (the
      // decoder's 64-position chunks: 4096 and 4097); a job's segment slots must cover every token's.
      const module = await kernelModule(true);
      const kx = await WasmKernels.create(module, { shared: true });
      const pool = await KernelThreadPool.start(kx, module, nodeKernelThreadSpawner, {
        threads: 2,
        minAttentionWork,
      });
      try {
        const [CHUNK, heads, kvHeads, d, MAX] = [4, 4, 2, 8, 300];
        const headFloats = CHUNK * d;
        const chunkFloats = 2 * kvHeads * headFloats;
        const keys = kx.putF32(random(Math.ceil(MAX / CHUNK) * chunkFloats, 5));
        const values = keys + kvHeads * headFloats * 4;
        const qStride = heads * d * 4;
        const q = kx.putF32(random(32 * heads * d, 6));
        const outFloats = 32 * heads * d;
        const out = kx.alloc(outFloats * 4);
        const want = kx.alloc(outFloats * 4);
        const scoresStride = (heads / kvHeads) * MAX * 4;
        const scores = kx.alloc(2 * scoresStride);
        const partialsBytes = kx.k.attentionPartialBytes(32, heads, d);
        const partials = kx.alloc(partialsBytes);
        expect([256, 257].map((t) => kx.k.attentionSegments(t, CHUNK))).toEqual([16, 13]);
        for (const [t0, tokens] of [
          [250, 12],
          [256, 2],
        ] as const) {
          // Records left by an earlier job (another layer's) stand in the slots this job must write.
          kx.f32(partials, partialsBytes / 4).fill(3);
          const job: AttentionJob = {
            out,
            partials,
            partialsBytes,
            q,
            qStride,
            keys,
            values,
            chunkBytes: chunkFloats * 4,
            chunkPositions: CHUNK,
            t0,
            tokens,
            heads,
            kvHeads,
            d,
            scale: 1 / Math.sqrt(d),
            scores,
            scoresStride,
          };
          pool.attention(job);
          attentionTokenByToken(kx.k, want, job);
          const n = tokens * heads * d;
          expect(bits(kx.f32(out, n)), `t0 ${t0}, ${tokens} tokens`).toEqual(bits(kx.f32(want, n)));
        }
      } finally {
        await pool.close();
      }
    },
  );

  it.each([
    ['llama', 6, 2],
    ['qwen3', 4, 1],
  ] as const)(
    '%s, %i heads over %i kv heads: 150 prompt tokens and steps to 170 on 1, 2 and 3 threads give the same logits',
    async (family, numHeads, numKvHeads) => {
      const checkpoint = join(root, `attn-${family}-ckpt`);
      const dir = join(root, `attn-${family}`);
      await makeCheckpoint(checkpoint, {
        family,
        tied: false,
        seed: 9,
        linearScale: 3,
        hiddenSize: 96,
        numHeads,
        numKvHeads,
      });
      const write = process.stderr.write;
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        await convertCommand.run([checkpoint, '--out', dir, '--dtype', 'q8']);
      } finally {
        process.stderr.write = write;
      }
      const prompt = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 384);
      const one = await loadCpuDecoder(dir, 'q8');
      const pooled = await Promise.all(
        [2, 3].map((threads) =>
          loadCpuDecoder(dir, 'q8', {
            threads,
            spawn: nodeKernelThreadSpawner,
            pool: { minAttentionWork: 0 },
          }),
        ),
      );
      try {
        // Prefill chunks of 32 over a cache of 3 chunks of 64 positions.
        let want = one.forward(prompt);
        for (const d of pooled)
          expect(bits(d.forward(prompt)), `${d.threads} threads, prefill`).toEqual(bits(want));
        for (let step = 0; step < 20; step++) {
          const next = want.indexOf(Math.max(...want));
          want = one.forward([next]);
          for (const d of pooled)
            expect(bits(d.forward([next])), `${d.threads} threads, step ${step}`).toEqual(bits(want));
        }
        for (const d of pooled) {
          expect(d.pool!.attentionSplit).toBe(2 * (5 + 20));
          expect(d.pool!.attentionLocal).toBe(0);
        }
      } finally {
        await Promise.all(pooled.map((d) => d.dispose()));
      }
    },
  );

  it("the default threshold: a short context's decode step stays on the calling thread, a prefill chunk and a long context's step are split", async () => {
    const dir = await model('attn-threshold', 'q8', 'llama');
    // 4 heads of 16 (the default llama shape): 128 multiply-adds per position, so a step splits from
    // 512 positions on, a prefill chunk of 32 tokens already at the start (its 528 query-positions).
    const d = await loadCpuDecoder(dir, 'q8', { threads: 2, spawn: nodeKernelThreadSpawner });
    const one = await loadCpuDecoder(dir, 'q8');
    try {
      const pool = d.pool!;
      expect(bits(d.forward(PROMPT.slice(0, 32)))).toEqual(bits(one.forward(PROMPT.slice(0, 32))));
      expect([pool.attentionSplit, pool.attentionLocal]).toEqual([2, 0]);
      expect(bits(d.forward([7]))).toEqual(bits(one.forward([7])));
      expect([pool.attentionSplit, pool.attentionLocal]).toEqual([2, 2]);
    } finally {
      await d.dispose();
    }
  });

  it('a score scratch too small for a thread, or partial records too small for the job, are refused by name; a trapping unit is a clear error, the pool works after', async () => {
    const module = await kernelModule(true);
    const kx = await WasmKernels.create(module, { shared: true });
    const pool = await KernelThreadPool.start(kx, module, nodeKernelThreadSpawner, {
      threads: 2,
      minAttentionWork: 0,
    });
    try {
      const d = 16;
      const chunkBytes = 2 * 2 * 64 * d * 4;
      const cache = kx.putF32(random((chunkBytes / 4) * 4, 3));
      const q = kx.putF32(random(32 * 8 * d, 4));
      const out = kx.alloc(32 * 4 * d * 4);
      const want = kx.alloc(4 * d * 4);
      const scores = kx.alloc(2 * 2 * 256 * 4);
      const partialsBytes = kx.k.attentionPartialBytes(32, 4, d);
      const partials = kx.alloc(partialsBytes);
      const job = {
        out,
        partials,
        partialsBytes,
        q,
        qStride: 8 * d * 4,
        keys: cache,
        values: cache + 2 * 64 * d * 4,
        chunkBytes,
        chunkPositions: 64,
        t0: 200,
        tokens: 32,
        heads: 4,
        kvHeads: 2,
        d,
        scale: 0.25,
        scores,
        scoresStride: 2 * 200 * 4,
      };
      expect(() => pool.attention(job)).toThrow(
        new RangeError('an attention over 231 positions needs 1848 bytes of scores per thread, not 1600'),
      );
      expect(pool.attentionSplit + pool.attentionLocal).toBe(0);
      // Partial records for fewer tokens than the job has: the units would write past them.
      expect(() =>
        pool.attention({ ...job, scoresStride: 2 * 256 * 4, partialsBytes: partialsBytes - 1 }),
      ).toThrow(
        new RangeError(
          `an attention of 32 tokens over 4 heads of 16 needs ${partialsBytes} bytes of partial records, not ${partialsBytes - 1}`,
        ),
      );
      expect(partialsBytes).toBe(32 * 4 * 16 * (16 + 4) * 4);
      expect(pool.attentionSplit + pool.attentionLocal).toBe(0);
      // Shapes the kernel cannot run exactly: refused by name before any thread starts on them (heads
      // 0 trapped on a division by zero; a fractional token count or t0 ran truncated in the kernel;
      // 0 positions per cache chunk would loop forever).
      const fixed = { ...job, tokens: 1, scoresStride: 2 * 256 * 4 };
      for (const [field, value] of [
        ['heads', 0],
        ['tokens', 1.5],
        ['t0', 2.5],
        ['d', 0],
        ['chunkPositions', 0],
        ['chunkPositions', 1.5],
      ] as const) {
        expect(() => pool.attention({ ...fixed, [field]: value }), `${field} ${value}`).toThrow(
          new RangeError(`an attention's ${field} must be a whole number from 1 to 2147483647, not ${value}`),
        );
      }
      expect(pool.attentionSplit + pool.attentionLocal).toBe(0);
      const messages: string[] = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        try {
          // Keys past the end of memory: every unit traps, on whichever thread claims it.
          pool.attention({ ...job, keys: kx.memory.buffer.byteLength - 64, scoresStride: 2 * 256 * 4 });
        } catch (error) {
          expect(error).toBeInstanceOf(EdgetierError);
          expect((error as EdgetierError).code).toBe('generation_failed');
          messages.push((error as Error).message);
        }
      }
      expect(messages).toHaveLength(10);
      for (const message of messages) {
        expect(message).toMatch(
          /^(The CPU engine failed in attention on the calling thread|A CPU engine thread failed: thread 1 in attentionUnits): .*out of bounds/,
        );
      }
      pool.attention({ ...job, tokens: 1, scoresStride: 2 * 256 * 4 });
      kx.k.attention(
        want,
        q,
        cache,
        cache + 2 * 64 * d * 4,
        chunkBytes,
        64,
        200,
        4,
        2,
        d,
        0.25,
        scores,
        partials,
      );
      expect(bits(kx.f32(out, 4 * d))).toEqual(bits(kx.f32(want, 4 * d)));
    } finally {
      await pool.close();
    }
  });
});

describe('NodeEngine on two threads', () => {
  it('generates as one thread does; an interrupt leaves the workers asleep; unload ends them', async () => {
    const dir = await model('engine-fp32', 'fp32', 'llama');
    const source = { kind: 'path', path: dir } as const;
    const sampling = { maxNewTokens: 24, ignoreEos: true };
    const single = new NodeEngine({ runtime: 'edgetier' });
    const threaded = new NodeEngine({ runtime: 'edgetier', threads: 2 });
    try {
      expect((await single.load({ source, device: 'cpu', dtype: 'fp32' })).threads).toBe(1);
      const info = await threaded.load({ source, device: 'cpu', dtype: 'fp32' });
      expect(info.threads).toBe(2);
      expect(info.engine).toBe('edgetier-wasm');
      const want = await single.generate({ prompt: 'Once upon a time', sampling });
      const got = await threaded.generate({ prompt: 'Once upon a time', sampling });
      expect(got.outputIds).toEqual(want.outputIds);
      expect(got.metrics.threads).toBe(2);
      // Two requests at once on one engine share its scratch and KV cache: they run one after the
      // other (the engine's queue), each as it would alone.
      const other = await single.generate({ prompt: 'The cat sat', sampling });
      const both = await Promise.all([
        threaded.generate({ prompt: 'Once upon a time', sampling }),
        threaded.generate({ prompt: 'The cat sat', sampling }),
      ]);
      expect(both.map((r) => r.outputIds)).toEqual([want.outputIds, other.outputIds]);

      const session = (threaded as unknown as { session: { generator: { decoder: CpuDecoder } } }).session;
      const pool = session.generator.decoder.pool!;
      const partial = await threaded.generate({ prompt: 'Once upon a time', sampling }, () => {
        void threaded.interrupt();
      });
      expect(partial.finishReason).toBe('aborted');
      expect(partial.outputIds.length).toBeLessThan(24);
      // Idle past its bounded spin, the worker sleeps in Atomics.wait instead of burning a core.
      expect(await until(() => pool.sleeping === 1)).toBe(true);
      expect(pool.running).toBe(1);
      await threaded.unload();
      expect(pool.running).toBe(0);
    } finally {
      await single.unload();
      await threaded.unload();
    }
  });

  it('a load that fails (a damaged ONNX file) leaves no thread behind, load after load', async () => {
    const dir = await model('engine-damaged', 'q8', 'llama');
    const file = join(dir, 'onnx', 'model_quantized.onnx');
    const good = join(root, 'good.onnx');
    await copyFile(file, good);
    const osThreads = async () =>
      Number(/Threads:\s+(\d+)/.exec(await readFile('/proc/self/status', 'utf8'))![1]);
    const source = { kind: 'path', path: dir } as const;
    const engine = new NodeEngine({ runtime: 'edgetier', threads: 2 });
    // A load that succeeds first, so that every thread the process keeps for good already runs.
    await engine.load({ source, device: 'cpu', dtype: 'q8' });
    await engine.unload();
    await truncate(file, 4000);
    const before = await osThreads();
    for (let i = 0; i < 4; i++) {
      await expect(engine.load({ source, device: 'cpu', dtype: 'q8' })).rejects.toThrow(/damaged/);
    }
    // Each failed load used to leave its chat-template thread running (one more OS thread each).
    expect(await until(async () => (await osThreads()) <= before)).toBe(true);
    await copyFile(good, file);
    expect((await engine.load({ source, device: 'cpu', dtype: 'q8' })).threads).toBe(2);
    await engine.unload();
  });
});

describe("the browser's threads (web-threads.ts; in Chromium: test/browser/cpu-engine-threads.test.ts)", () => {
  it('more than one thread only where the page is cross-origin isolated', () => {
    expect(webKernelThreads(4, { crossOriginIsolated: true })).toBe(4);
    expect(webKernelThreads(4, { crossOriginIsolated: false })).toBe(1);
    expect(webKernelThreads(4, {})).toBe(1);
    // Node is no cross-origin isolated page.
    expect(webKernelThreads(4)).toBe(1);
  });

  it('a context without Web Workers is refused by name', () => {
    expect(() => webKernelThreadSpawner({})).toThrow('this browser context cannot start Web Workers');
  });
});
