/**
 * The CPU engine's WebAssembly SIMD kernels against scalar references written here, on odd sizes
 * (row counts not a multiple of the unroll, widths not a multiple of 4 or of the 32-value block), and
 * the quantised GEMVs also against the float product on the de-quantised weights (src/builder/quantize.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { dequantizeQ4, dequantizeQ8, quantizeQ4, quantizeQ8 } from '../../src/builder/quantize.ts';
import { activationIndex, BLOCK, blocksOf, permutedIndex, q8Rows } from '../../src/cpu-engine/layouts.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { random, roundHalfEven } from '../helpers/kernel-values.ts';

let kx: WasmKernels;

beforeAll(async () => {
  // The SIMD128 build (the relaxed one has the same kernels and more: cpu-int8-activations.test.ts).
  kx = await WasmKernels.create(await kernelModule(false, false));
});

/** Scalar reference of quantizeActivations, in float32 arithmetic like the kernel. */
function quantizeRef(x: Float32Array): { xq: Int16Array; xs: Float32Array } {
  const blocks = blocksOf(x.length);
  const xq = new Int16Array(blocks * BLOCK);
  const xs = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = b * BLOCK; i < Math.min(x.length, (b + 1) * BLOCK); i++) m = Math.max(m, Math.abs(x[i]!));
    xs[b] = Math.fround(m / 32767);
    const inv = m > 0 ? Math.fround(32767 / m) : 0;
    for (let i = 0; i < BLOCK; i++) {
      const at = b * BLOCK + i;
      const v = at < x.length ? Math.fround(x[at]! * inv) : 0;
      xq[b * BLOCK + permutedIndex(i)] = roundHalfEven(v);
    }
  }
  return { xq, xs };
}

function dotRows(w: Float32Array, x: Float32Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    y[r] = s;
  }
  return y;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number): void {
  expect(got.length).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    // Written so that a NaN (on either side) fails too.
    if (!(Math.abs(got[i]! - want[i]!) <= tolerance * scale)) {
      expect.fail(`element ${i}: ${got[i]} vs ${want[i]} (tolerance ${tolerance} x ${scale})`);
    }
  }
}

/** Puts activations in memory and quantises them with the kernel. */
function quantizeInWasm(x: Float32Array): { xq: number; xs: number } {
  const blocks = blocksOf(x.length);
  const xPtr = kx.putF32(x);
  const xq = kx.alloc(blocks * BLOCK * 2);
  const xs = kx.alloc(blocks * 4);
  kx.k.quantizeActivations(xq, xs, xPtr, x.length);
  return { xq, xs };
}

/** Quantises `tokens` activation rows of `cols` in the GEMMs' tiled layout, as the decoder does. */
function quantizeTokensInWasm(x: Float32Array, tokens: number, cols: number): { xq: number; xs: number } {
  const blocks = blocksOf(cols);
  const xPtr = kx.putF32(x);
  const xq = kx.alloc(tokens * blocks * BLOCK * 2);
  const xs = kx.alloc(tokens * blocks * 4);
  kx.k.quantizeActivationsTiled(xq, xs, xPtr, cols, tokens, 32767);
  return { xq, xs };
}

/** y [tokens, rows] of a scalar per-token reference. */
function perToken(tokens: number, x: Float32Array, cols: number, f: (x: Float32Array) => ArrayLike<number>) {
  const out: number[] = [];
  for (let t = 0; t < tokens; t++) out.push(...Array.from(f(x.subarray(t * cols, (t + 1) * cols))));
  return out;
}

describe('cpu-engine kernels (WASM SIMD128) = scalar references', () => {
  it('quantizeActivations: int16 codes and scales equal the scalar quantiser exactly', () => {
    for (const n of [1, 31, 33, 64, 100]) {
      const x = random(n, n, 3);
      x[Math.min(5, n - 1)] = 0; // a zero inside a block
      const { xq, xs } = quantizeInWasm(x);
      const want = quantizeRef(x);
      expect(Array.from(kx.i16(xq, want.xq.length)), `n=${n}`).toEqual(Array.from(want.xq));
      expect(Array.from(kx.f32(xs, want.xs.length)), `n=${n}`).toEqual(Array.from(want.xs));
    }
    // Exact halves in a whole block (the SIMD path) round to even, as the scalar tail does.
    const halves = Float32Array.from({ length: 32 }, (_, i) => (i === 0 ? 32767 : (i % 7) - 3.5));
    const h = quantizeInWasm(halves);
    expect(Array.from(kx.i16(h.xq, 32))).toEqual(Array.from(quantizeRef(halves).xq));
    // An all-zero block quantises to zeros with scale 0, not NaN.
    const { xq, xs } = quantizeInWasm(new Float32Array(40));
    expect(Array.from(kx.i16(xq, 64)).every((v) => v === 0)).toBe(true);
    expect(Array.from(kx.f32(xs, 2))).toEqual([0, 0]);
  });

  it('quantizeActivationsTiled: each token quantised as quantizeActivations alone, where activationIndex says (tiles of four interleaved per block, the rest a row each)', () => {
    const cols = 70; // 3 blocks, the last partial
    const blocks = blocksOf(cols);
    for (const tokens of [1, 3, 4, 6, 9]) {
      const x = random(tokens * cols, 17 * tokens, 2);
      const { xq, xs } = quantizeTokensInWasm(x, tokens, cols);
      const codes = kx.i16(xq, tokens * blocks * BLOCK);
      const scales = kx.f32(xs, tokens * blocks);
      for (let t = 0; t < tokens; t++) {
        const want = quantizeRef(x.subarray(t * cols, (t + 1) * cols));
        for (let b = 0; b < blocks; b++) {
          const at = activationIndex(t, b, tokens, blocks);
          const label = `tokens=${tokens} t=${t} b=${b}`;
          expect(scales[at], label).toBe(want.xs[b]);
          expect(Array.from(codes.subarray(at * BLOCK, (at + 1) * BLOCK)), label).toEqual(
            Array.from(want.xq.subarray(b * BLOCK, (b + 1) * BLOCK)),
          );
        }
      }
    }
    // The tile layout itself: token 1 of a tile sits one block after token 0, block 1 four blocks later.
    expect([0, 1, 2, 3].map((t) => activationIndex(t, 1, 5, 3))).toEqual([4, 5, 6, 7]);
    expect(activationIndex(4, 1, 5, 3)).toBe(13);
  });

  it('gemmF32 equals a double-precision dot product (rows 1, 3, 7; cols 1, 5, 103; 1 or 3 tokens)', () => {
    for (const [rows, cols, tokens] of [
      [1, 1, 1],
      [3, 5, 3],
      [7, 103, 1],
      [7, 103, 3],
    ] as const) {
      const w = random(rows * cols, rows + cols);
      const x = random(tokens * cols, 7 * cols);
      const y = kx.alloc(tokens * rows * 4);
      kx.k.gemmF32(y, kx.putF32(w), kx.putF32(x), rows, cols, tokens);
      expectClose(
        kx.f32(y, tokens * rows),
        perToken(tokens, x, cols, (xt) => dotRows(w, xt, rows, cols)),
        1e-6,
      );
    }
  });

  it('gemmQ4 (MatMulNBits block-32 layout) equals the scalar integer GEMV, and the float product on the de-quantised weights, for a decode step and prefill chunks', () => {
    for (const [rows, cols, tokens] of [
      [1, 32, 1],
      [7, 100, 1],
      [7, 100, 3],
      [10, 64, 2],
      // Prefill chunks of 5 and 9 tokens, rows and widths not a multiple of anything.
      [5, 100, 5],
      [3, 161, 9],
    ] as const) {
      const w = random(rows * cols, 3 * rows + cols);
      const x = random(tokens * cols, cols + 1, 2);
      const q = quantizeQ4(w, rows, cols);
      const { xq, xs } = quantizeTokensInWasm(x, tokens, cols);
      const y = kx.alloc(tokens * rows * 4);
      kx.k.gemmQ4(y, kx.putU8(q.packed), kx.putF32(q.scales), xq, xs, rows, q.blocksPerRow, tokens);
      const got = Array.from(kx.f32(y, tokens * rows));

      // Scalar: the same integer arithmetic, block by block, with the converter's nibble order.
      const scalar = perToken(tokens, x, cols, (xt) => {
        const ref = quantizeRef(xt);
        const out = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          for (let b = 0; b < q.blocksPerRow; b++) {
            let dot = 0;
            for (let i = 0; i < BLOCK; i++) {
              const byte = q.packed[(r * q.blocksPerRow + b) * 16 + (i >> 1)]!;
              const code = i & 1 ? byte >> 4 : byte & 15;
              dot += (code - 8) * ref.xq[b * BLOCK + permutedIndex(i)]!;
            }
            out[r]! += dot * Math.fround(q.scales[r * q.blocksPerRow + b]! * ref.xs[b]!);
          }
        }
        return out;
      });
      expectClose(got, scalar, 1e-6);
      // int16 activations: within 5e-4 of the float product on the weights the file holds.
      const dq = dequantizeQ4(q, rows, cols);
      expectClose(
        got,
        perToken(tokens, x, cols, (xt) => dotRows(dq, xt, rows, cols)),
        5e-4,
      );
    }
  });

  it('gemmQ8 (the q8 MatMulInteger weights, repacked to rows) equals the scalar GEMV and the de-quantised product, for a decode step and prefill chunks', () => {
    for (const [rows, cols, sliceAt, tokens] of [
      [1, 32, 1, 1],
      [7, 100, 3, 1],
      [7, 100, 3, 3],
      [9, 65, 9, 2],
      [5, 100, 2, 5],
      [3, 161, 3, 9],
    ] as const) {
      const w = random(rows * cols, rows * cols);
      const x = random(tokens * cols, 5 + cols);
      const q = quantizeQ8(w, rows, cols);
      // Two column slices when sliceAt < rows, as the converter writes a very wide weight.
      const slice = (start: number, end: number) => {
        const out = new Uint8Array(cols * (end - start));
        for (let c = 0; c < cols; c++)
          out.set(q.codes.subarray(c * rows + start, c * rows + end), c * (end - start));
        return out;
      };
      const slices = sliceAt < rows ? [slice(0, sliceAt), slice(sliceAt, rows)] : [q.codes];
      const blocks = blocksOf(cols);
      const packedRows = new Int8Array(rows * blocks * BLOCK);
      q8Rows(slices, rows, cols, packedRows);
      const wPtr = kx.alloc(packedRows.length);
      kx.i8(wPtr, packedRows.length).set(packedRows);
      const { xq, xs } = quantizeTokensInWasm(x, tokens, cols);
      const y = kx.alloc(tokens * rows * 4);
      kx.k.gemmQ8(y, wPtr, kx.putF32(q.scales), xq, xs, rows, blocks, tokens);
      const got = Array.from(kx.f32(y, tokens * rows));

      const scalar = perToken(tokens, x, cols, (xt) => {
        const ref = quantizeRef(xt);
        const out = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          let sum = 0;
          for (let b = 0; b < blocks; b++) {
            let dot = 0;
            for (let i = 0; i < BLOCK && b * BLOCK + i < cols; i++) {
              const code = q.codes[(b * BLOCK + i) * rows + r]! - 128;
              dot += code * ref.xq[b * BLOCK + permutedIndex(i)]!;
            }
            sum += dot * ref.xs[b]!;
          }
          out[r] = sum * q.scales[r]!;
        }
        return out;
      });
      expectClose(got, scalar, 1e-6);
      const dq = dequantizeQ8(q, rows, cols);
      expectClose(
        got,
        perToken(tokens, x, cols, (xt) => dotRows(dq, xt, rows, cols)),
        5e-4,
      );
    }
  });

  it('the tiled prefill GEMMs (tiles of eight and four tokens) give each token, bit for bit, its one-token GEMV, for 1 to 17 tokens', () => {
    // Token counts around the tiles (eights, an eight and a four, a remainder of 1 to 3, none); row counts odd and even
    // (gemmQ4's decode path takes rows in pairs); q4 and q8; and a split of the rows as a thread takes them.
    for (const tokens of [1, 2, 3, 4, 5, 7, 8, 13, 17]) {
      for (const [rows, cols] of [
        [5, 100],
        [6, 64],
      ] as const) {
        const w = random(rows * cols, 7 * rows + cols);
        const x = random(tokens * cols, tokens + cols, 2);
        const blocks = blocksOf(cols);
        const { xq, xs } = quantizeTokensInWasm(x, tokens, cols);
        const q4 = quantizeQ4(w, rows, cols);
        const q8 = quantizeQ8(w, rows, cols);
        const packedRows = new Int8Array(rows * blocks * BLOCK);
        q8Rows([q8.codes], rows, cols, packedRows);
        const q8Ptr = kx.alloc(packedRows.length);
        kx.i8(q8Ptr, packedRows.length).set(packedRows);
        const kinds = {
          q4: { w: kx.putU8(q4.packed), ws: kx.putF32(q4.scales), dq: dequantizeQ4(q4, rows, cols) },
          q8: { w: q8Ptr, ws: kx.putF32(q8.scales), dq: dequantizeQ8(q8, rows, cols) },
        };
        for (const [kind, m] of Object.entries(kinds)) {
          const gemmRows = kind === 'q4' ? kx.k.gemmQ4Rows : kx.k.gemmQ8Rows;
          const label = `${kind} rows=${rows} cols=${cols} tokens=${tokens}`;
          const y = kx.alloc(tokens * rows * 4);
          gemmRows(y, m.w, m.ws, xq, xs, rows, blocks, tokens, 0, rows);
          const got = Array.from(kx.f32(y, tokens * rows));
          // The same rows in two ranges, as two threads take them.
          const split = kx.alloc(tokens * rows * 4);
          gemmRows(split, m.w, m.ws, xq, xs, rows, blocks, tokens, 0, 3);
          gemmRows(split, m.w, m.ws, xq, xs, rows, blocks, tokens, 3, rows);
          expect(Array.from(kx.f32(split, tokens * rows)), label).toEqual(got);
          for (let t = 0; t < tokens; t++) {
            const one = kx.alloc(rows * 4);
            const alone = quantizeInWasm(x.subarray(t * cols, (t + 1) * cols));
            gemmRows(one, m.w, m.ws, alone.xq, alone.xs, rows, blocks, 1, 0, rows);
            expect(got.slice(t * rows, (t + 1) * rows), `${label} token ${t}`).toEqual(
              Array.from(kx.f32(one, rows)),
            );
          }
          expectClose(
            got,
            perToken(tokens, x, cols, (xt) => dotRows(m.dq, xt, rows, cols)),
            5e-4,
          );
        }
      }
    }
  });

  it('gemmQ4 and gemmQ8 compute, bit for bit, one arithmetic for a decode step and every prefill tile: exact integer block sums, then a float32 sum over the blocks in order', () => {
    // Blocks 1 to 9: the decode path takes blocks four at a time (groups and a tail of 1 to 3); tokens 1
    // to 9: whole four-token tiles and a tail; odd row counts, and the rows split as two threads take them.
    const f = Math.fround;
    for (const blocks of [1, 2, 3, 4, 5, 7, 9]) {
      const cols = blocks * BLOCK - (blocks > 2 ? 5 : 0);
      for (const tokens of [1, 3, 4, 6, 9]) {
        const rows = 3 + (blocks % 3);
        const w = random(rows * cols, 11 * blocks + rows);
        const x = random(tokens * cols, 13 * tokens + cols, 3);
        const { xq, xs } = quantizeTokensInWasm(x, tokens, cols);
        const xqs = kx.i16(xq, tokens * blocks * BLOCK).slice();
        const xss = kx.f32(xs, tokens * blocks).slice();
        const q4 = quantizeQ4(w, rows, cols);
        const q8 = quantizeQ8(w, rows, cols);
        const packedRows = new Int8Array(rows * blocks * BLOCK);
        q8Rows([q8.codes], rows, cols, packedRows);
        const q8Ptr = kx.alloc(packedRows.length);
        kx.i8(q8Ptr, packedRows.length).set(packedRows);
        // Scalar reference: Math.fround after each float32 operation (a double product or sum of two
        // float32 values, rounded once, is the float32 result).
        const want = (kind: 'q4' | 'q8') => {
          const y = new Float32Array(tokens * rows);
          for (let t = 0; t < tokens; t++) {
            for (let r = 0; r < rows; r++) {
              let s = 0;
              for (let b = 0; b < blocks; b++) {
                let dot = 0;
                for (let i = 0; i < BLOCK; i++) {
                  const a = xqs[activationIndex(t, b, tokens, blocks) * BLOCK + permutedIndex(i)]!;
                  if (kind === 'q4') {
                    const byte = q4.packed[(r * blocks + b) * 16 + (i >> 1)]!;
                    dot += ((i & 1 ? byte >> 4 : byte & 15) - 8) * a;
                  } else {
                    dot += packedRows[r * blocks * BLOCK + b * BLOCK + permutedIndex(i)]! * a;
                  }
                }
                const sx = xss[activationIndex(t, b, tokens, blocks)]!;
                const scale = kind === 'q4' ? f(q4.scales[r * blocks + b]! * sx) : sx;
                s = f(s + f(f(dot) * scale));
              }
              y[t * rows + r] = kind === 'q4' ? s : f(s * q8.scales[r]!);
            }
          }
          return Array.from(y);
        };
        for (const kind of ['q4', 'q8'] as const) {
          const [wPtr, wsPtr] =
            kind === 'q4' ? [kx.putU8(q4.packed), kx.putF32(q4.scales)] : [q8Ptr, kx.putF32(q8.scales)];
          const gemmRows = kind === 'q4' ? kx.k.gemmQ4Rows : kx.k.gemmQ8Rows;
          const label = `${kind} blocks=${blocks} rows=${rows} tokens=${tokens}`;
          const y = kx.alloc(tokens * rows * 4);
          gemmRows(y, wPtr, wsPtr, xq, xs, rows, blocks, tokens, 0, 2);
          gemmRows(y, wPtr, wsPtr, xq, xs, rows, blocks, tokens, 2, rows);
          expect(Array.from(kx.f32(y, tokens * rows)), label).toEqual(want(kind));
        }
      }
    }
  });

  it('rmsNorm over rows of an odd width', () => {
    const rows = 3;
    const width = 37;
    const x = random(rows * width, 1, 4);
    const weight = random(width, 2);
    const out = kx.alloc(x.length * 4);
    kx.k.rmsNorm(out, kx.putF32(x), kx.putF32(weight), rows, width, 1e-5);
    const want = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      let sq = 0;
      for (let i = 0; i < width; i++) sq += x[r * width + i]! ** 2;
      const s = 1 / Math.sqrt(sq / width + 1e-5);
      for (let i = 0; i < width; i++) want[r * width + i] = x[r * width + i]! * s * weight[i]!;
    }
    expectClose(kx.f32(out, x.length), want, 1e-6);
  });

  it('rope (rotate_half pairs) on heads of width 10 (a tail after the SIMD lanes)', () => {
    const heads = 3;
    const d = 10;
    const x = random(heads * d, 3);
    const angles = Array.from({ length: d / 2 }, (_, i) => 0.7 * (i + 1));
    const cos = Float32Array.from(angles, Math.cos);
    const sin = Float32Array.from(angles, Math.sin);
    const ptr = kx.putF32(x);
    kx.k.rope(ptr, heads, d, kx.putF32(cos), kx.putF32(sin));
    const want = new Float64Array(x.length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < d / 2; i++) {
        const a = x[h * d + i]!;
        const b = x[h * d + i + d / 2]!;
        want[h * d + i] = a * cos[i]! - b * sin[i]!;
        want[h * d + i + d / 2] = b * cos[i]! + a * sin[i]!;
      }
    }
    expectClose(kx.f32(ptr, x.length), want, 1e-6);
  });

  it('softmax (SIMD exp) and swiglu on 13 values; softmax over a wide range and of one value', () => {
    const x = random(13, 4, 5);
    const ptr = kx.putF32(x);
    kx.k.softmax(ptr, 13);
    const max = Math.max(...x);
    const e = Array.from(x, (v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    expectClose(
      kx.f32(ptr, 13),
      e.map((v) => v / sum),
      1e-6,
    );

    // Far below the maximum (exp underflows: the SIMD exp clamps at -87), and one value alone.
    const wide = Float32Array.from([3, -200, -90, -86, 0, -1e30, 2.5, -40, -87.5]);
    const widePtr = kx.putF32(wide);
    kx.k.softmax(widePtr, wide.length);
    const wideE = Array.from(wide, (v) => Math.exp(v - 3));
    const wideSum = wideE.reduce((a, b) => a + b, 0);
    expectClose(
      kx.f32(widePtr, wide.length),
      wideE.map((v) => v / wideSum),
      1e-6,
    );
    const one = kx.putF32(Float32Array.from([-7]));
    kx.k.softmax(one, 1);
    expect(kx.f32(one, 1)[0]).toBe(1);

    const gateUp = random(26, 5, 4);
    const out = kx.alloc(13 * 4);
    kx.k.swiglu(out, kx.putF32(gateUp), 13);
    const want = Array.from({ length: 13 }, (_, i) => {
      const g = gateUp[i]!;
      return (g / (1 + Math.exp(-g))) * gateUp[13 + i]!;
    });
    expectClose(kx.f32(out, 13), want, 1e-6);

    // swiglu's SIMD lanes and scalar tail over gates from -100 to 100, each within 1e-6 of its own value.
    const gates = [
      -100, -88, -30, -5, -1, -1e-3, 0, 1e-3, 0.5, 1, 5, 30, 88, 100, -2.5, 2.5, 7, -7, 0.1, -0.1, 3, -3, 60,
    ];
    const wideGateUp = Float32Array.from([...gates, ...gates.map((_, i) => (i % 3) - 1.5)]);
    const wideOut = kx.alloc(gates.length * 4);
    kx.k.swiglu(wideOut, kx.putF32(wideGateUp), gates.length);
    const gotWide = kx.f32(wideOut, gates.length);
    gates.forEach((g, i) => {
      const g32 = Math.fround(g);
      const w = (g32 / (1 + Math.exp(-g32))) * wideGateUp[gates.length + i]!;
      expect(Math.abs(gotWide[i]! - w), `gate ${g}`).toBeLessThanOrEqual(1e-6 * Math.abs(w) + 1e-30);
    });
  });

  it('quantizeActivations: a block of subnormal-small values (32767 / max overflows) is zeros with scale 0 in the SIMD blocks and the scalar tail alike, not saturated or sign-flipped codes', () => {
    // 33 values: one whole block (SIMD) and a one-value tail block (scalar), both of tiny values.
    for (const tiny of [1e-40, 5e-41, 1.4e-45, -3e-39]) {
      const x = new Float32Array(33);
      x[0] = tiny;
      x[2] = tiny / 2;
      x[32] = tiny;
      const { xq, xs } = quantizeInWasm(x);
      expect(Array.from(kx.i16(xq, 64)), `codes for ${tiny}`).toEqual(new Array(64).fill(0));
      expect(Array.from(kx.f32(xs, 2)), `scales for ${tiny}`).toEqual([0, 0]);
    }
    // Small but normal enough that 32767 / max is finite: quantised as usual, the same in both paths.
    const small = Float32Array.from({ length: 33 }, (_, i) => (i % 3) * 1e-33);
    const got = quantizeInWasm(small);
    const want = quantizeRef(small);
    expect(Array.from(kx.i16(got.xq, 64))).toEqual(Array.from(want.xq));
    expect(Array.from(kx.f32(got.xs, 2))).toEqual(Array.from(want.xs));
    // NaN and infinities are not hidden: the block's scale is NaN or infinite (its codes 0), so every
    // product with it is NaN.
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const v = random(33, 9);
      v[4] = bad;
      v[32] = bad;
      const q = quantizeInWasm(v);
      expect(Array.from(kx.f32(q.xs, 2)).some(Number.isFinite), `scales for ${bad}`).toBe(false);
    }
  });

  it("swiglu at extreme gates (beyond exp4's -87 clamp, infinities, NaN) matches g * sigmoid(g), the same in a SIMD lane and the scalar tail", () => {
    const gates = [
      88,
      89,
      1000,
      -87,
      -88,
      -89,
      -100,
      -1000,
      -1e30,
      -3.4e38,
      3.4e38,
      Number.NEGATIVE_INFINITY,
    ];
    gates.push(Number.POSITIVE_INFINITY, Number.NaN, 0, -0, 1e-40, -1e-40);
    const want = (g: number) => (g === Number.NEGATIVE_INFINITY ? Number.NaN : g / (1 + Math.exp(-g)));
    // Each gate in all four SIMD lanes (n = 4) and alone in the scalar tail (n = 1), up = 1.
    for (const g of gates) {
      const lanes = kx.alloc(16);
      kx.k.swiglu(lanes, kx.putF32(Float32Array.from([g, g, g, g, 1, 1, 1, 1])), 4);
      const tail = kx.alloc(4);
      kx.k.swiglu(tail, kx.putF32(Float32Array.from([g, 1])), 1);
      const simd = kx.f32(lanes, 4)[0]!;
      const scalar = kx.f32(tail, 1)[0]!;
      const w = want(Math.fround(g));
      if (Number.isNaN(w)) {
        expect(simd, `SIMD lane, gate ${g}`).toBeNaN();
        expect(scalar, `tail, gate ${g}`).toBeNaN();
        continue;
      }
      const slack = Math.abs(w) === Number.POSITIVE_INFINITY ? 0 : 1e-6 * Math.abs(w) + 1e-30;
      expect(Math.abs(simd - w) <= slack || simd === w, `SIMD lane, gate ${g}: ${simd} vs ${w}`).toBe(true);
      expect(Math.abs(scalar - w) <= slack || scalar === w, `tail, gate ${g}: ${scalar} vs ${w}`).toBe(true);
      expect(Object.is(scalar, simd) || scalar === simd, `gate ${g}: tail ${scalar} = lane ${simd}`).toBe(
        true,
      );
    }
  });

  it.each([
    // One segment (under 4 chunks), and 13 chunks of 4: segments of 16 positions, the last partial.
    [6, 2, 10, 13],
    [6, 2, 10, 50],
    // The 135M twin's shape (9 heads over 3, d 64, no tail), 7 segments.
    [9, 3, 64, 100],
    // 75 chunks: past 16 segments of 4 chunks, so 15 segments of 5 chunks.
    [4, 1, 8, 300],
  ])(
    'attention: %i heads over %i kv heads, d %i, %i positions, read in place from a chunked cache (chunks of 4) in segments merged exactly',
    (heads, kvHeads, d, t) => {
      const chunk = 4;
      // Per chunk: [another layer | keys [kvHeads][chunk][d] | values [kvHeads][chunk][d] | padding].
      const other = 7;
      const headFloats = chunk * d;
      const chunkFloats = other + 2 * kvHeads * headFloats + 3;
      const cache = random(Math.ceil(t / chunk) * chunkFloats, 6);
      const at = (kind: 'k' | 'v', p: number, g: number, i: number) =>
        Math.floor(p / chunk) * chunkFloats +
        other +
        (kind === 'v' ? kvHeads * headFloats : 0) +
        g * headFloats +
        (p % chunk) * d +
        i;
      // Scores large enough that exp(score - max) spans orders of magnitude across segments.
      const q = random(heads * d, 7, 4);
      const cachePtr = kx.putF32(cache);
      const out = kx.alloc(heads * d * 4);
      // A row of scores per query head of a group, then a guard that must stay untouched.
      const scores = kx.alloc((heads / kvHeads) * t * 4);
      const guard = kx.putF32(new Float32Array(4).fill(42));
      const partialBytes = kx.k.attentionPartialBytes(1, heads, d);
      const partials = kx.alloc(partialBytes);
      const scale = 1 / Math.sqrt(d);
      // Segments: whole chunks, 4 at least, 16 segments at most; by the context alone.
      const segs = kx.k.attentionSegments(t, chunk);
      const span = Math.max(4, Math.ceil(Math.ceil(t / chunk) / 16)) * chunk;
      expect(segs).toBe(Math.ceil(t / span));
      expect(partialBytes).toBe(heads * 16 * (d + 4) * 4);
      kx.k.attention(
        out,
        kx.putF32(q),
        cachePtr + at('k', 0, 0, 0) * 4,
        cachePtr + at('v', 0, 0, 0) * 4,
        chunkFloats * 4,
        chunk,
        t,
        heads,
        kvHeads,
        d,
        scale,
        scores,
        partials,
      );
      const want = new Float64Array(heads * d);
      const records = kx.f32(partials, partialBytes / 4);
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        const s = new Float64Array(t);
        for (let p = 0; p < t; p++) {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[h * d + i]! * cache[at('k', p, g, i)]!;
          s[p] = dot * scale;
        }
        // Each segment's record: its maximum, its sum of exp(score - maximum), its unnormalised output.
        for (let seg = 0; seg < segs; seg++) {
          const part = Array.from(s.subarray(seg * span, Math.min(t, (seg + 1) * span)));
          const m = Math.max(...part);
          const e = part.map((x) => Math.exp(x - m));
          const rec = (h * 16 + seg) * (d + 4);
          expect(Math.abs(records[rec]! - m), `head ${h} segment ${seg} max`).toBeLessThan(
            1e-5 * (1 + Math.abs(m)),
          );
          const l = e.reduce((x, y) => x + y, 0);
          expect(Math.abs(records[rec + 1]! - l) / l, `head ${h} segment ${seg} sum`).toBeLessThan(1e-5);
          const o = new Float64Array(d);
          for (let i = 0; i < d; i++) {
            for (let j = 0; j < e.length; j++) o[i] = o[i]! + e[j]! * cache[at('v', seg * span + j, g, i)]!;
          }
          expectClose(records.subarray(rec + 4, rec + 4 + d), o, 1e-5);
        }
        const max = Math.max(...s);
        let sum = 0;
        for (let p = 0; p < t; p++) {
          s[p] = Math.exp(s[p]! - max);
          sum += s[p]!;
        }
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let p = 0; p < t; p++) acc += s[p]! * cache[at('v', p, g, i)]!;
          want[h * d + i] = acc / sum;
        }
      }
      expectClose(kx.f32(out, heads * d), want, 1e-5);
      expect(Array.from(kx.f32(guard, 4))).toEqual([42, 42, 42, 42]);
    },
  );

  it('attention: a segment whose every score is -Infinity (keys that overflow the dot product) weighs nothing, as in one softmax, rather than making the output NaN', () => {
    // Chunks of 4, one head of 4: 20 positions are 2 segments (0..15, 16..19).
    const [chunk, d, t] = [4, 4, 20];
    const keys = random(t * d, 8);
    const values = random(t * d, 9);
    // Keys of the first segment: -3e38 in every element, so q . k overflows to -Infinity.
    keys.fill(-3e38, 0, 16 * d);
    const cache = new Float32Array(Math.ceil(t / chunk) * 2 * chunk * d);
    for (let p = 0; p < t; p++) {
      const base = Math.floor(p / chunk) * 2 * chunk * d + (p % chunk) * d;
      cache.set(keys.subarray(p * d, (p + 1) * d), base);
      cache.set(values.subarray(p * d, (p + 1) * d), base + chunk * d);
    }
    const q = Float32Array.from([1, 0.5, 0.25, 1]);
    const cachePtr = kx.putF32(cache);
    const out = kx.alloc(d * 4);
    expect(kx.k.attentionSegments(t, chunk)).toBe(2);
    kx.k.attention(
      out,
      kx.putF32(q),
      cachePtr,
      cachePtr + chunk * d * 4,
      2 * chunk * d * 4,
      chunk,
      t,
      1,
      1,
      d,
      0.5,
      kx.alloc(t * 4),
      kx.alloc(kx.k.attentionPartialBytes(1, 1, d)),
    );
    // The reference: a softmax over positions 16..19 (exp(-Infinity - max) is 0).
    const s = Array.from({ length: 4 }, (_, j) => {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += q[i]! * keys[(16 + j) * d + i]!;
      return dot * 0.5;
    });
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const sum = e.reduce((a, b) => a + b, 0);
    const want = Array.from(
      { length: d },
      (_, i) => e.reduce((acc, w, j) => acc + w * values[(16 + j) * d + i]!, 0) / sum,
    );
    expectClose(kx.f32(out, d), want, 1e-5);
  });

  it('addInPlace on 7 values', () => {
    const a = random(7, 8);
    const b = random(7, 9);
    const ptr = kx.putF32(a);
    kx.k.addInPlace(ptr, kx.putF32(b), 7);
    expectClose(
      kx.f32(ptr, 7),
      Array.from(a, (v, i) => v + b[i]!),
      1e-7,
    );
  });
});

describe("firstNaN (the check of a step's logits)", () => {
  it('finds the first NaN at any lane and in the tail, ignores infinities, -1 when none', () => {
    const n = 23; // five vectors of four and a tail of three
    const x = kx.alloc(n * 4);
    const view = () => kx.f32(x, n);
    for (const at of [0, 1, 3, 4, 18, 19, 20, 22]) {
      view().fill(1.5);
      view()[at] = Number.NaN;
      if (at + 2 < n) view()[at + 2] = Number.NaN;
      expect(kx.k.firstNaN(x, n), `NaN at ${at}`).toBe(at);
    }
    view().fill(Number.POSITIVE_INFINITY);
    view()[7] = Number.NEGATIVE_INFINITY;
    expect(kx.k.firstNaN(x, n)).toBe(-1);
    // Only the first n floats: a NaN just past them is not looked at.
    view().fill(0);
    view()[22] = Number.NaN;
    expect(kx.k.firstNaN(x, 22)).toBe(-1);
    expect(kx.k.firstNaN(x, 0)).toBe(-1);
  });
});
