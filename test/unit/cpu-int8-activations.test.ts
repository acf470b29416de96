/**
 * The CPU engine's int8 activations for q4 files whose MatMulNBits nodes say accuracy_level 4 (what
 * lets ORT's own CPU kernel quantise activations to int8): the relaxed-SIMD build's int8 GEMM
 * (kernels/relaxed.ts) gives the SIMD128 build's gemmQ4 outputs over 127-level codes bit for bit, on
 * one thread and split over a pool; its int8 layout holds the scalar quantiser's codes; the decoder
 * takes the path the file's accuracy_level and the kernels build allow, and says which.
 *
 * The unit tests' Node runs relaxed SIMD (vitest.config.ts passes Node 20 its flag), so both builds
 * run here; the browser tests run them in Chromium.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { dequantizeQ4, quantizeQ4 } from '../../src/builder/quantize.ts';
import { writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { CpuDecoder, PREFILL_CHUNK } from '../../src/cpu-engine/decoder.ts';
import { activationIndex, BLOCK, blocksOf } from '../../src/cpu-engine/layouts.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import { readOnnxInitializers } from '../../src/cpu-engine/onnx-reader.ts';
import { hasRelaxedSimd } from '../../src/cpu-engine/wasm-features.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { random, roundHalfEven } from '../helpers/kernel-values.ts';
import { memoryWeights, randomTensors, TINY_SPECS } from '../helpers/onnx-fixtures.ts';

let root: string;
let simd128: WasmKernels;
let relaxed: WasmKernels;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-int8-'));
  simd128 = await WasmKernels.create(await kernelModule(false, false));
  relaxed = await WasmKernels.create(await kernelModule(false, true));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A block's int8 codes (natural order) and scale, in float32 arithmetic like the kernels. */
function quantizeBlockRef(x: Float32Array, start: number, end: number): { codes: number[]; scale: number } {
  let m = 0;
  for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]!));
  const inv = m > 0 ? Math.fround(127 / m) : 0;
  const codes = Array.from({ length: BLOCK }, (_, i) =>
    // A NaN block's codes are 0, its NaN too (its scale is NaN); never -0.
    start + i < end ? roundHalfEven(Math.fround(x[start + i]! * inv)) || 0 : 0,
  );
  return { codes, scale: Math.fround(m / 127) };
}

/**
 * Activations for `tokens` rows of `cols` with the values that test the edges: a zero block, a block
 * too small to invert, a block with NaN, one with 3e38, exact halves.
 */
function activations(tokens: number, cols: number, seed: number): Float32Array {
  const x = random(tokens * cols, seed, 4);
  if (cols >= 64 && tokens >= 2) {
    x.fill(0, cols, cols + 32); // token 1, block 0: zeros
    if (tokens >= 3) for (let i = 0; i < 32; i++) x[2 * cols + 32 + i] = 1e-37 * (i - 16); // too small
    if (tokens >= 4) x[3 * cols + 5] = Number.NaN;
    if (tokens >= 5) x[4 * cols + 40] = 3e38;
    if (tokens >= 6) for (let i = 0; i < 32; i++) x[5 * cols + i] = i === 0 ? 127 : (i % 7) - 3.5;
  }
  return x;
}

/** y [tokens, rows] of the 4-bit GEMM: SIMD128's over 127-level codes, or relaxed SIMD's int8 one. */
function gemm(
  kx: WasmKernels,
  path: 'simd128' | 'relaxed',
  q: ReturnType<typeof quantizeQ4>,
  x: Float32Array,
  rows: number,
  cols: number,
  tokens: number,
): Float32Array {
  const blocks = blocksOf(cols);
  const xPtr = kx.putF32(x);
  const xq = kx.alloc(tokens * blocks * BLOCK * 2);
  const xs = kx.alloc(tokens * blocks * 4);
  const y = kx.alloc(tokens * rows * 4);
  const w = kx.putU8(q.packed);
  const ws = kx.putF32(q.scales);
  if (path === 'relaxed') {
    kx.k.quantizeActivationsI8Tiled!(xq, xs, xPtr, cols, tokens);
    kx.k.gemmQ4I8!(y, w, ws, xq, xs, rows, blocks, tokens);
  } else {
    kx.k.quantizeActivationsTiled(xq, xs, xPtr, cols, tokens, 127);
    kx.k.gemmQ4(y, w, ws, xq, xs, rows, blocks, tokens);
  }
  return kx.f32(y, tokens * rows).slice();
}

describe('cpu-engine int8 activations: relaxed SIMD = SIMD128, bit for bit', () => {
  it('this Node runs relaxed SIMD (so the comparisons below run both builds)', () => {
    expect(hasRelaxedSimd()).toBe(true);
    expect(relaxed.k.gemmQ4I8Rows).toBeTypeOf('function');
    expect(simd128.k.gemmQ4I8Rows).toBeUndefined();
  });

  it('quantizeActivationsI8Tiled: the scalar quantiser int8 codes (even values, then odd), -8 x their sum, and the scales, where the layout says', () => {
    const cols = 70; // 3 blocks, the last partial
    const blocks = blocksOf(cols);
    for (const tokens of [1, 3, 4, 6, 9]) {
      const x = activations(tokens, cols, 7 * tokens);
      const xPtr = relaxed.putF32(x);
      const xq = relaxed.alloc(tokens * blocks * 36);
      const xs = relaxed.alloc(tokens * blocks * 4);
      relaxed.k.quantizeActivationsI8Tiled!(xq, xs, xPtr, cols, tokens);
      const bytes = relaxed.i8(xq, tokens * blocks * 36);
      const ints = new Int32Array(relaxed.memory.buffer, xq, (tokens * blocks * 36) / 4);
      const scales = relaxed.f32(xs, tokens * blocks);
      const tiled = tokens & ~3;
      for (let t = 0; t < tokens; t++) {
        for (let b = 0; b < blocks; b++) {
          const label = `tokens=${tokens} t=${t} b=${b}`;
          const want = quantizeBlockRef(x, t * cols + b * BLOCK, t * cols + Math.min(cols, (b + 1) * BLOCK));
          expect(scales[activationIndex(t, b, tokens, blocks)], label).toBe(want.scale);
          // Codes and correction: a tile's block is 4 x 32 bytes then 4 int32; a lone row's codes, then its corrections.
          const group = (t & ~3) * blocks * 36;
          const codesAt = t < tiled ? group + b * 144 + (t & 3) * 32 : t * blocks * 36 + b * 32;
          const corrAt =
            t < tiled ? group + b * 144 + 128 + (t & 3) * 4 : t * blocks * 36 + blocks * 32 + b * 4;
          const even = want.codes.filter((_, i) => i % 2 === 0);
          const odd = want.codes.filter((_, i) => i % 2 === 1);
          expect(Array.from(bytes.subarray(codesAt, codesAt + 32)), label).toEqual([...even, ...odd]);
          expect(ints[corrAt / 4], label).toBe(-8 * want.codes.reduce((a, c) => a + c, 0) + 0);
        }
      }
    }
  });

  it('gemmQ4I8 over the int8 layout gives gemmQ4 over 127-level codes exactly, for a decode step and prefill tiles of every size, and stays within the int8 rounding bound of the float product on the de-quantised weights', () => {
    for (const [rows, cols] of [
      [1, 32],
      [7, 100],
      [13, 288],
      [5, 161],
    ] as const) {
      const w = random(rows * cols, 3 * rows + cols);
      const q = quantizeQ4(w, rows, cols);
      const dq = dequantizeQ4(q, rows, cols);
      for (const tokens of [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, PREFILL_CHUNK]) {
        const x = activations(tokens, cols, rows * 31 + tokens);
        const a = gemm(simd128, 'simd128', q, x, rows, cols, tokens);
        const b = gemm(relaxed, 'relaxed', q, x, rows, cols, tokens);
        const label = `rows=${rows} cols=${cols} tokens=${tokens}`;
        expect(Array.from(b), label).toEqual(Array.from(a));
        for (let t = 0; t < tokens; t++) {
          const xt = x.subarray(t * cols, (t + 1) * cols);
          if (xt.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e30)) continue;
          for (let r = 0; r < rows; r++) {
            // Each activation is off by at most half its block's step (m / 127 / 2): the bound on |error|.
            let want = 0;
            let bound = 0;
            for (let blk = 0; blk * BLOCK < cols; blk++) {
              let m = 0;
              let wAbs = 0;
              for (let c = blk * BLOCK; c < Math.min(cols, (blk + 1) * BLOCK); c++) {
                m = Math.max(m, Math.abs(xt[c]!));
                wAbs += Math.abs(dq[r * cols + c]!);
                want += dq[r * cols + c]! * xt[c]!;
              }
              bound += (m / 127 / 2) * wAbs;
            }
            const got = a[t * rows + r]!;
            if (!(Math.abs(got - want) <= bound * 1.001 + 1e-5 * Math.abs(want)))
              expect.fail(`${label} t=${t} r=${r}: ${got} vs ${want} (bound ${bound})`);
          }
        }
      }
    }
  });
});

describe('cpu-engine int8 activations: the decoder follows the file', () => {
  const spec = TINY_SPECS['qwen2 with bias']!;
  const tensors = randomTensors(spec, 9);
  const prompt = Array.from({ length: 45 }, (_, i) => (i * 53 + 7) % spec.vocabSize);

  async function q4File(name: string, accuracy: 0 | 4): Promise<Uint8Array> {
    const { file } = await writeOnnxModel(spec, memoryWeights(tensors), 'q4', join(root, name), {
      q4AccuracyLevel: accuracy,
    });
    return readFile(file);
  }

  /** Logits of the prompt (two prefill chunks) and of three greedy steps after it. */
  function run(decoder: CpuDecoder): number[][] {
    const out = [Array.from(decoder.forward(prompt))];
    for (let i = 0; i < 3; i++) {
      const last = out[out.length - 1]!;
      out.push(Array.from(decoder.forward([last.indexOf(Math.max(...last))])));
    }
    return out;
  }

  it('the converter writes accuracy_level 4 on every MatMulNBits node (0 when asked); the reader reads it', async () => {
    const four = readOnnxInitializers(await q4File('levels-4', 4)).matMulNBitsAccuracy;
    const zero = readOnnxInitializers(await q4File('levels-0', 0)).matMulNBitsAccuracy;
    // Per layer q|k|v, o, gate|up, down; and the head.
    expect(four.length).toBeGreaterThan(spec.numLayers * 3);
    expect(new Set(four)).toEqual(new Set([4]));
    expect(zero.length).toBe(four.length);
    expect(new Set(zero)).toEqual(new Set([0]));
  });

  it('accuracy_level 4: int8 codes, relaxed SIMD where the build has it, the same logits bit for bit on both builds and on two threads', async () => {
    const onnx = await q4File('decoder-4', 4);
    const config = specToHfConfig(spec);
    const plain = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, false));
    const fast = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, true));
    const threaded = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(true, true), {
      threads: 2,
      spawn: nodeKernelThreadSpawner,
      // Split every GEMM and attention, however small.
      pool: { minSplitWork: 0, minAttentionWork: 0 },
    });
    const int16 = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, true), {
      int16Activations: true,
    });
    try {
      expect(plain.q4Activations).toBe('int8');
      expect(fast.q4Activations).toBe('int8 relaxed');
      expect(threaded.q4Activations).toBe('int8 relaxed');
      expect(int16.q4Activations).toBe('int16');
      const want = run(plain);
      expect(run(fast)).toEqual(want);
      expect(run(threaded)).toEqual(want);
      expect(threaded.pool?.split).toBeGreaterThan(0);
      // The int16 path is another computation: close, not equal.
      expect(run(int16)).not.toEqual(want);
    } finally {
      await threaded.dispose();
    }
  });

  it('accuracy_level 0 (float accuracy asked for) and q8 files keep int16 codes on every build', async () => {
    const onnx = await q4File('decoder-0', 0);
    const config = specToHfConfig(spec);
    for (const relaxedBuild of [false, true]) {
      const decoder = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, relaxedBuild));
      expect(decoder.q4Activations).toBe('int16');
    }
    const { file } = await writeOnnxModel(spec, memoryWeights(tensors), 'q8', join(root, 'decoder-q8'));
    const q8 = await CpuDecoder.fromFiles(
      config,
      await readFile(file),
      'q8',
      await kernelModule(false, true),
    );
    expect(q8.q4Activations).toBe('int16');
  });
});
