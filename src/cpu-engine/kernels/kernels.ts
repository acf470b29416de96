// AssemblyScript source of the CPU engine's WebAssembly kernels (compiled by ../build-kernels.ts, not
// by tsc). Every function works on pointers into the one imported memory, which the TypeScript side
// (../kernels.ts) lays out; nothing here allocates. SIMD128 only, so every engine with WASM SIMD runs it.
//
// Quantised GEMMs share one activation format: int16 per block of 32 values with a float scale per
// block, the 32 values of a block stored "nibble-major": position 8k + l holds x[4l + k] (x0 x4 .. x28
// x1 x5 .. x29 x2 .. x3 .. x31). Read as eight 16-bit lanes, a 4-bit block (two codes per byte, low
// nibble first) holds x[4l .. 4l + 3] in lane l's four nibbles, so the k-th nibble of every lane is
// positions 8k .. 8k + 7: the 4-bit kernel unpacks with shifts alone, no shuffle and no byte
// sign-extension; 8-bit rows are repacked in the same order at load (../layouts.ts: permutedIndex).

import { addLanes, blockInverse, blockMax, blockScale, fence, hsum, isum, laneSums, partialMax, quantize4, storeLanes } from './shared';

const BLOCK: i32 = 32;
/** int16 codes (quantizeActivations, q8 files, q4 files computed at accuracy_level 0-3). */
const INT16_LEVELS: f32 = 32767;

// ---- activations ----

/**
 * x[n] float32 -> xq[ceil(n/32)*32] int16 (block-permuted, zero-padded) and xs[ceil(n/32)] scales.
 * Whole blocks in SIMD (round to nearest even, as the scalar tail), the last partial block scalar.
 * A block whose largest |x| is so small that 32767 / max overflows (below about 1e-34) is zeros with
 * scale 0 (an infinite inverse would saturate its codes, or wrap them to -1 in the scalar path); a
 * block holding NaN or an infinity keeps a NaN scale, so the products with it stay NaN.
 */
export function quantizeActivations(xq: usize, xs: usize, x: usize, n: i32): void {
  quantizeRow(xq, xs, x, n, 64, 4, INT16_LEVELS);
}

/**
 * quantizeActivations for `tokens` rows of x [tokens, n], in the prefill tiles' layout: each group
 * of four tokens (t < tokens & ~3) starts where its first token's row would, and holds per block the
 * four tokens' 32 codes (4 x 64 bytes) and the four tokens' scales (16 bytes) side by side, so a tile
 * reads a block of its four tokens at fixed offsets from one pointer and their scales with one load.
 * The last tokens & 3 rows keep one token's layout (the one-token GEMV reads them); so does tokens = 1.
 * (../layouts.ts: activationIndex.) `levels`: 32767, or 127 for int8 codes (still stored in 16 bits:
 * these kernels' dot products are int16's; relaxed.ts's int8 layout holds the same codes).
 */
export function quantizeActivationsTiled(xq: usize, xs: usize, x: usize, n: i32, tokens: i32, levels: i32): void {
  const blocks = (n + BLOCK - 1) / BLOCK;
  const xqRow = <usize>blocks << 6;
  const xsRow = <usize>blocks << 2;
  const xRow = <usize>n << 2;
  const tiled = tokens & ~3;
  for (let t = 0; t < tokens; t++) {
    const inTile = t < tiled;
    const lane = <usize>(t & 3);
    const base = inTile ? <usize>(t & ~3) : <usize>t;
    quantizeRow(
      xq + base * xqRow + (inTile ? lane << 6 : 0),
      xs + base * xsRow + (inTile ? lane << 2 : 0),
      x + <usize>t * xRow,
      n,
      inTile ? 256 : 64,
      inTile ? 16 : 4,
      <f32>levels,
    );
  }
}

/** One row of quantizeActivations, block b's codes at xq + b * qStride, its scale at xs + b * sStride. */
function quantizeRow(xq: usize, xs: usize, x: usize, n: i32, qStride: usize, sStride: usize, levels: f32): void {
  const full = n / BLOCK;
  for (let b = 0; b < full; b++) quantizeBlock(xq + <usize>b * qStride, xs + <usize>b * sStride, x + (<usize>b << 7), levels);
  const blocks = (n + BLOCK - 1) / BLOCK;
  for (let b = full; b < blocks; b++) {
    const start = b * BLOCK;
    const len = min(BLOCK, n - start);
    const m = partialMax(x + (<usize>start << 2), len);
    const inv = blockInverse(m, levels);
    store<f32>(xs + <usize>b * sStride, blockScale(m, inv, levels));
    const out = xq + <usize>b * qStride;
    for (let j = 0; j < BLOCK; j++) {
      const src = 4 * (j & 7) + (j >> 3);
      let v: f32 = 0;
      if (src < len) v = load<f32>(x + (<usize>(start + src) << 2)) * inv;
      store<i16>(out + (<usize>j << 1), <i16>nearest<f32>(v));
    }
  }
}

/** One whole block of quantizeActivations: 32 floats at x -> 32 int16 at out (nibble-major), scale at s. */
@inline function quantizeBlock(out: usize, s: usize, x: usize, levels: f32): void {
  const v0 = v128.load(x);
  const v1 = v128.load(x, 16);
  const v2 = v128.load(x, 32);
  const v3 = v128.load(x, 48);
  const v4 = v128.load(x, 64);
  const v5 = v128.load(x, 80);
  const v6 = v128.load(x, 96);
  const v7 = v128.load(x, 112);
  const m = blockMax(v0, v1, v2, v3, v4, v5, v6, v7);
  const invm = blockInverse(m, levels);
  store<f32>(s, blockScale(m, invm, levels));
  const inv = f32x4.splat(invm);
  // |v * inv| <= 32767 after rounding, so the saturating narrow never saturates.
  const n0 = i16x8.narrow_i32x4_s(quantize4(v0, inv), quantize4(v1, inv));
  const n1 = i16x8.narrow_i32x4_s(quantize4(v2, inv), quantize4(v3, inv));
  const n2 = i16x8.narrow_i32x4_s(quantize4(v4, inv), quantize4(v5, inv));
  const n3 = i16x8.narrow_i32x4_s(quantize4(v6, inv), quantize4(v7, inv));
  // nj holds x[8j .. 8j + 7]. a: x0 x4 x8 x12 | x1 x5 x9 x13; b: x2 x6 x10 x14 | x3 x7 x11 x15;
  // c and d the same from x16; output k: the half k of a (k < 2) or b, then the same half of c or d.
  const a = i8x16.shuffle(n0, n1, 0, 1, 8, 9, 16, 17, 24, 25, 2, 3, 10, 11, 18, 19, 26, 27);
  const b = i8x16.shuffle(n0, n1, 4, 5, 12, 13, 20, 21, 28, 29, 6, 7, 14, 15, 22, 23, 30, 31);
  const c = i8x16.shuffle(n2, n3, 0, 1, 8, 9, 16, 17, 24, 25, 2, 3, 10, 11, 18, 19, 26, 27);
  const d = i8x16.shuffle(n2, n3, 4, 5, 12, 13, 20, 21, 28, 29, 6, 7, 14, 15, 22, 23, 30, 31);
  v128.store(out, i8x16.shuffle(a, c, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
  v128.store(out, i8x16.shuffle(a, c, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), 16);
  v128.store(out, i8x16.shuffle(b, d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), 32);
  v128.store(out, i8x16.shuffle(b, d, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), 48);
}

// ---- GEMM over a few tokens: y[t, rows] = W[rows, cols] x[t] for t < tokens ----
// A decode step is tokens = 1 (a GEMV); a prompt runs in chunks of tokens, and each pair (or four)
// of weight rows is read from memory once and reused from cache for every token of the chunk.

/** float32 W row-major [rows, cols]; x [tokens, cols]; y [tokens, rows]. */
export function gemmF32(y: usize, w: usize, x: usize, rows: i32, cols: i32, tokens: i32): void {
  gemmF32Rows(y, w, x, rows, cols, tokens, 0, rows);
}

/**
 * gemmF32 for output rows [r0, r1) only (a thread's share; ../thread-pool.ts): every row's arithmetic
 * is the same whichever range it falls in, so a split gives bit-identical results.
 */
export function gemmF32Rows(y: usize, w: usize, x: usize, rows: i32, cols: i32, tokens: i32, r0: i32, r1: i32): void {
  const c4 = cols & ~3;
  const rowBytes = <usize>cols << 2;
  const yRow = <usize>rows << 2;
  let r = r0;
  for (; r + 3 < r1; r += 4) {
    const w0 = w + <usize>r * rowBytes;
    const w1 = w0 + rowBytes;
    const w2 = w1 + rowBytes;
    const w3 = w2 + rowBytes;
    for (let t = 0; t < tokens; t++) {
      const xt = x + <usize>t * rowBytes;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      for (let c = 0; c < c4; c += 4) {
        const o = <usize>c << 2;
        const xv = v128.load(xt + o);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(w0 + o), xv));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(w1 + o), xv));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(w2 + o), xv));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(w3 + o), xv));
      }
      let s0 = hsum(a0);
      let s1 = hsum(a1);
      let s2 = hsum(a2);
      let s3 = hsum(a3);
      for (let c = c4; c < cols; c++) {
        const o = <usize>c << 2;
        const xv = load<f32>(xt + o);
        s0 += load<f32>(w0 + o) * xv;
        s1 += load<f32>(w1 + o) * xv;
        s2 += load<f32>(w2 + o) * xv;
        s3 += load<f32>(w3 + o) * xv;
      }
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      store<f32>(yt, s0);
      store<f32>(yt, s1, 4);
      store<f32>(yt, s2, 8);
      store<f32>(yt, s3, 12);
    }
  }
  for (; r < r1; r++) {
    const w0 = w + <usize>r * rowBytes;
    for (let t = 0; t < tokens; t++) {
      const xt = x + <usize>t * rowBytes;
      let a0 = f32x4.splat(0);
      for (let c = 0; c < c4; c += 4) {
        const o = <usize>c << 2;
        a0 = f32x4.add(a0, f32x4.mul(v128.load(w0 + o), v128.load(xt + o)));
      }
      let s0 = hsum(a0);
      for (let c = c4; c < cols; c++) s0 += load<f32>(w0 + (<usize>c << 2)) * load<f32>(xt + (<usize>c << 2));
      store<f32>(y + <usize>t * yRow + (<usize>r << 2), s0);
    }
  }
}

// The quantised GEMMs' arithmetic, the same for a decode step and a prefill tile (so a chunked prompt
// gives every token, bit for bit, its one-token result): for each output (row, token), a block's 32
// products are summed exactly in int32 (at most 2^23 in magnitude for 4-bit weights, so its float is
// exact), and the float sum runs over the blocks in order, from +0: s = s + float(isum_b) * scale_b,
// where scale_b is f32(sw_b * sx_b) (4-bit: weight scale per block) or sx_b (8-bit: the row's one scale
// multiplies the sum at the end). A prefill tile keeps four tokens' sums in the four lanes of one
// vector; a decode step keeps four blocks' products in the lanes and adds them in order.

/** The four int32 lanes of a block's dot product: weights unpacked to four int16x8, activations at xo. */
@inline function dot4(e0: v128, e1: v128, e2: v128, e3: v128, xo: usize): v128 {
  let d = i32x4.dot_i16x8_s(e0, v128.load(xo));
  d = i32x4.add(d, i32x4.dot_i16x8_s(e1, v128.load(xo, 16)));
  d = i32x4.add(d, i32x4.dot_i16x8_s(e2, v128.load(xo, 32)));
  return i32x4.add(d, i32x4.dot_i16x8_s(e3, v128.load(xo, 48)));
}

/**
 * One block of a prefill tile: lane j is the int32 sum of the weights' block (unpacked to e0..e3) times
 * token j's 32 codes, at xp + 64 j (quantizeActivationsTiled's layout: fixed offsets from one pointer,
 * no per-token address arithmetic). `at`: the fences' scratch (the tile's first output).
 */
@inline function tileBlock(e0: v128, e1: v128, e2: v128, e3: v128, xp: usize, at: usize): v128 {
  const d0 = fence(dotCodes(e0, e1, e2, e3, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48)), at);
  const d1 = fence(dotCodes(e0, e1, e2, e3, v128.load(xp, 64), v128.load(xp, 80), v128.load(xp, 96), v128.load(xp, 112)), at);
  const d2 = fence(dotCodes(e0, e1, e2, e3, v128.load(xp, 128), v128.load(xp, 144), v128.load(xp, 160), v128.load(xp, 176)), at);
  const d3 = fence(dotCodes(e0, e1, e2, e3, v128.load(xp, 192), v128.load(xp, 208), v128.load(xp, 224), v128.load(xp, 240)), at);
  return laneSums(d0, d1, d2, d3);
}

/** dot4 with the activations already loaded (x0..x3). */
@inline function dotCodes(e0: v128, e1: v128, e2: v128, e3: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  let d = i32x4.dot_i16x8_s(e0, x0);
  d = i32x4.add(d, i32x4.dot_i16x8_s(e1, x1));
  d = i32x4.add(d, i32x4.dot_i16x8_s(e2, x2));
  return i32x4.add(d, i32x4.dot_i16x8_s(e3, x3));
}

/**
 * Nibble k (0..3) of each 16-bit lane of q as a signed int16: q holds the 4-bit codes xor 8, so each
 * nibble is code - 8 in 4-bit two's complement and two shifts sign-extend it. Lane l's nibble k is the
 * block's value 4l + k, the activations' position 8k + l: nibble k of all lanes pairs with positions
 * 8k .. 8k + 7.
 */
@inline function q4Codes(q: v128, k: i32): v128 {
  return i16x8.shr_s(i16x8.shl(q, 12 - 4 * k), 12);
}

/**
 * 0x8888 in every 16-bit lane, in memory, loaded into a register once per row (xor8) rather than
 * written as a splat in the loop: Chromium 150's V8 builds a v128 constant anew at each use in a loop
 * (see EXP_CONSTANTS). A decode step's SIMD128 4-bit GEMVs took 9 % less time in Chromium, 1 %
 * less in Node (bench/experiments/browser-kernel-time.ts --kernel gemv-q4).
 */
const XOR8 = memory.data<u16>([0x8888, 0x8888, 0x8888, 0x8888, 0x8888, 0x8888, 0x8888, 0x8888]);

@inline function xor8(): v128 {
  return v128.load(XOR8);
}

/** A 4-bit block's 16 bytes with every code xor 8 (see q4Codes); x8: xor8(). */
@inline function q4Signed(p: v128, x8: v128): v128 {
  return v128.xor(p, x8);
}

/** One 4-bit block (16 bytes, code - 8 the value, low nibble first) dotted with activations at xo; x8: xor8(). */
@inline function q4BlockDot(p: v128, xo: usize, x8: v128): v128 {
  const q = q4Signed(p, x8);
  return dot4(q4Codes(q, 0), q4Codes(q, 1), q4Codes(q, 2), q4Codes(q, 3), xo);
}

/**
 * One 8-bit block (32 bytes) dotted with activations at xo. Widening 8-byte loads (v128.load8x8_s: a
 * load and a sign-extension in one instruction) in place of 16-byte loads and two extends each: a
 * decode step's q8 GEMVs took 7 % less time in Chromium 150 and Node here, and the int8 attention,
 * whose dot loops (scoreHeads, weightedValuesHeads) read the same way, 3 % less in Chromium (Node's no
 * faster): bench/experiments/browser-kernel-time.ts --kernel gemv-q8, --kernel attention.
 */
@inline function q8BlockDot(w: usize, xo: usize): v128 {
  return dot4(v128.load8x8_s(w), v128.load8x8_s(w, 8), v128.load8x8_s(w, 16), v128.load8x8_s(w, 24), xo);
}

/**
 * 4-bit W in MatMulNBits' layout: packed [rows, blocks, 16] (code - 8 is the value, two per byte, low
 * nibble first), scales ws [rows, blocks]; xq [tokens, blocks * 32] / xs [tokens, blocks] from
 * quantizeActivationsTiled (whole tiles of four tokens interleaved per block); y [tokens, rows].
 */
export function gemmQ4(
  y: usize,
  w: usize,
  ws: usize,
  xq: usize,
  xs: usize,
  rows: i32,
  blocks: i32,
  tokens: i32,
): void {
  gemmQ4Rows(y, w, ws, xq, xs, rows, blocks, tokens, 0, rows);
}

/** gemmQ4 for output rows [r0, r1) only (as gemmF32Rows). */
export function gemmQ4Rows(
  y: usize,
  w: usize,
  ws: usize,
  xq: usize,
  xs: usize,
  rows: i32,
  blocks: i32,
  tokens: i32,
  r0: i32,
  r1: i32,
): void {
  const rowBytes = <usize>blocks << 4;
  const rowScales = <usize>blocks << 2;
  const xqRow = <usize>blocks << 6;
  const yRow = <usize>rows << 2;
  const tiled = tokens & ~3;
  for (let r = r0; r < r1; r++) {
    const w0 = w + <usize>r * rowBytes;
    const s0 = ws + <usize>r * rowScales;
    // Eight tokens a tile (two groups of four), then four: each weight block is unpacked once for all.
    let t = 0;
    for (; t + 8 <= tiled; t += 8) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      q4Tile(w0, s0, rowBytes, xq + <usize>t * xqRow, xs + <usize>t * rowScales, xqRow << 2, rowScales << 2, yt, yRow, true);
    }
    if (t < tiled) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      q4Tile(w0, s0, rowBytes, xq + <usize>t * xqRow, xs + <usize>t * rowScales, 0, 0, yt, yRow, false);
    }
    for (let t = tiled; t < tokens; t++) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      store<f32>(yt, gemvQ4Row(w0, s0, xq + <usize>t * xqRow, xs + <usize>t * rowScales, blocks, yt));
    }
  }
}

/**
 * One row of gemmQ4 for a tile of four tokens (`eight`: two groups of four, the second `group` bytes of
 * codes and `groupScales` bytes of scales after the first), their outputs from yt, yRow bytes apart.
 */
@inline function q4Tile(
  w0: usize,
  s0: usize,
  rowBytes: usize,
  xp: usize,
  xsp: usize,
  group: usize,
  groupScales: usize,
  yt: usize,
  yRow: usize,
  eight: bool,
): void {
  let acc = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  const x8 = xor8();
  let wp = w0;
  let sp = s0;
  const end = w0 + rowBytes;
  while (wp < end) {
    const q = q4Signed(v128.load(wp), x8);
    const e0 = q4Codes(q, 0);
    const e1 = q4Codes(q, 1);
    const e2 = q4Codes(q, 2);
    const e3 = q4Codes(q, 3);
    const sw = f32x4.splat(load<f32>(sp));
    const sums = tileBlock(e0, e1, e2, e3, xp, yt);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sums), f32x4.mul(sw, v128.load(xsp))));
    if (eight) {
      const sums2 = tileBlock(e0, e1, e2, e3, xp + group, yt);
      acc2 = f32x4.add(acc2, f32x4.mul(f32x4.convert_i32x4_s(sums2), f32x4.mul(sw, v128.load(xsp + groupScales))));
    }
    wp += 16;
    sp += 4;
    xp += 256;
    xsp += 16;
  }
  storeLanes(yt, yRow, acc);
  if (eight) storeLanes(yt + (yRow << 2), yRow, acc2);
}

/**
 * One row of gemmQ4 for one token: four blocks' products in the lanes of a vector, added in order
 * (`at`: the output, the fence's scratch).
 */
@inline function gemvQ4Row(w0: usize, s0: usize, xq: usize, xs: usize, blocks: i32, at: usize): f32 {
  const x8 = xor8();
  let s: f32 = 0;
  let b = 0;
  for (; b + 3 < blocks; b += 4) {
    const wb = w0 + (<usize>b << 4);
    const xb = xq + (<usize>b << 6);
    const d0 = fence(q4BlockDot(v128.load(wb), xb, x8), at);
    const d1 = fence(q4BlockDot(v128.load(wb, 16), xb + 64, x8), at);
    const d2 = fence(q4BlockDot(v128.load(wb, 32), xb + 128, x8), at);
    const d3 = fence(q4BlockDot(v128.load(wb, 48), xb + 192, x8), at);
    const scale = f32x4.mul(v128.load(s0 + (<usize>b << 2)), v128.load(xs + (<usize>b << 2)));
    s = addLanes(s, f32x4.mul(f32x4.convert_i32x4_s(laneSums(d0, d1, d2, d3)), scale));
  }
  for (; b < blocks; b++) {
    const d = q4BlockDot(v128.load(w0 + (<usize>b << 4)), xq + (<usize>b << 6), x8);
    s = s + <f32>isum(d) * (load<f32>(s0 + (<usize>b << 2)) * load<f32>(xs + (<usize>b << 2)));
  }
  return s;
}

/**
 * 8-bit W: int8 rows [rows, blocks * 32], each block in the activations' nibble-major order, one
 * scale per row in ws [rows] (the converter's q8: code - 128, per output channel).
 */
export function gemmQ8(
  y: usize,
  w: usize,
  ws: usize,
  xq: usize,
  xs: usize,
  rows: i32,
  blocks: i32,
  tokens: i32,
): void {
  gemmQ8Rows(y, w, ws, xq, xs, rows, blocks, tokens, 0, rows);
}

/** gemmQ8 for output rows [r0, r1) only (as gemmF32Rows). */
export function gemmQ8Rows(
  y: usize,
  w: usize,
  ws: usize,
  xq: usize,
  xs: usize,
  rows: i32,
  blocks: i32,
  tokens: i32,
  r0: i32,
  r1: i32,
): void {
  const rowBytes = <usize>blocks << 5;
  const xqRow = <usize>blocks << 6;
  const xsRow = <usize>blocks << 2;
  const yRow = <usize>rows << 2;
  const tiled = tokens & ~3;
  for (let r = r0; r < r1; r++) {
    const w0 = w + <usize>r * rowBytes;
    const sr = load<f32>(ws + (<usize>r << 2));
    // Eight tokens a tile (two groups of four), then four: each weight block is sign-extended once for all.
    let t = 0;
    for (; t + 8 <= tiled; t += 8) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      q8Tile(w0, sr, rowBytes, xq + <usize>t * xqRow, xs + <usize>t * xsRow, xqRow << 2, xsRow << 2, yt, yRow, true);
    }
    if (t < tiled) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      q8Tile(w0, sr, rowBytes, xq + <usize>t * xqRow, xs + <usize>t * xsRow, 0, 0, yt, yRow, false);
    }
    for (let t = tiled; t < tokens; t++) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      store<f32>(yt, gemvQ8Row(w0, xq + <usize>t * xqRow, xs + <usize>t * xsRow, blocks, yt) * sr);
    }
  }
}

/** One row of gemmQ8 for a tile of four or eight tokens (as q4Tile; sr: the row's scale). */
@inline function q8Tile(
  w0: usize,
  sr: f32,
  rowBytes: usize,
  xp: usize,
  xsp: usize,
  group: usize,
  groupScales: usize,
  yt: usize,
  yRow: usize,
  eight: bool,
): void {
  let acc = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let wp = w0;
  const end = w0 + rowBytes;
  while (wp < end) {
    const p = v128.load(wp);
    const q = v128.load(wp, 16);
    const e0 = i16x8.extend_low_i8x16_s(p);
    const e1 = i16x8.extend_high_i8x16_s(p);
    const e2 = i16x8.extend_low_i8x16_s(q);
    const e3 = i16x8.extend_high_i8x16_s(q);
    const sums = tileBlock(e0, e1, e2, e3, xp, yt);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sums), v128.load(xsp)));
    if (eight) {
      const sums2 = tileBlock(e0, e1, e2, e3, xp + group, yt);
      acc2 = f32x4.add(acc2, f32x4.mul(f32x4.convert_i32x4_s(sums2), v128.load(xsp + groupScales)));
    }
    wp += 32;
    xp += 256;
    xsp += 16;
  }
  storeLanes(yt, yRow, f32x4.mul(acc, f32x4.splat(sr)));
  if (eight) storeLanes(yt + (yRow << 2), yRow, f32x4.mul(acc2, f32x4.splat(sr)));
}

/** One row of gemmQ8 for one token, before the row's scale (as gemvQ4Row). */
@inline function gemvQ8Row(w0: usize, xq: usize, xs: usize, blocks: i32, at: usize): f32 {
  let s: f32 = 0;
  let b = 0;
  for (; b + 3 < blocks; b += 4) {
    const wb = w0 + (<usize>b << 5);
    const xb = xq + (<usize>b << 6);
    const d0 = fence(q8BlockDot(wb, xb), at);
    const d1 = fence(q8BlockDot(wb + 32, xb + 64), at);
    const d2 = fence(q8BlockDot(wb + 64, xb + 128), at);
    const d3 = fence(q8BlockDot(wb + 96, xb + 192), at);
    s = addLanes(s, f32x4.mul(f32x4.convert_i32x4_s(laneSums(d0, d1, d2, d3)), v128.load(xs + (<usize>b << 2))));
  }
  for (; b < blocks; b++) {
    const d = q8BlockDot(w0 + (<usize>b << 5), xq + (<usize>b << 6));
    s = s + <f32>isum(d) * load<f32>(xs + (<usize>b << 2));
  }
  return s;
}

// ---- float parts ----

/** a[n] += b[n] (residual adds, biases). */
export function addInPlace(a: usize, b: usize, n: i32): void {
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(a + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (let i = n4; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(a + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** The index of the first NaN among n floats at x, or -1 (a step's logits: cpu-generator.ts). */
export function firstNaN(x: usize, n: i32): i32 {
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    if (v128.any_true(f32x4.ne(v, v))) {
      for (let j = i; j < i + 4; j++) if (isNaN(load<f32>(x + (<usize>j << 2)))) return j;
    }
  }
  for (let i = n4; i < n; i++) if (isNaN(load<f32>(x + (<usize>i << 2)))) return i;
  return -1;
}

/** RMSNorm of `rows` consecutive groups of `width`: out = x * rsqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(out: usize, x: usize, weight: usize, rows: i32, width: i32, eps: f32): void {
  const w4 = width & ~3;
  for (let r = 0; r < rows; r++) {
    const xr = x + (<usize>(r * width) << 2);
    const yr = out + (<usize>(r * width) << 2);
    let acc = f32x4.splat(0);
    for (let i = 0; i < w4; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let sq = hsum(acc);
    for (let i = w4; i < width; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      sq += v * v;
    }
    const scale: f32 = <f32>1 / Mathf.sqrt(sq / <f32>width + eps);
    const sv = f32x4.splat(scale);
    for (let i = 0; i < w4; i += 4) {
      const o = <usize>i << 2;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(weight + o)));
    }
    for (let i = w4; i < width; i++) {
      const o = <usize>i << 2;
      store<f32>(yr + o, load<f32>(xr + o) * scale * load<f32>(weight + o));
    }
  }
}

/**
 * RoPE in place on `heads` heads of width d (rotate_half form: pairs i and i + d/2), with cos/sin
 * [d/2] for this position.
 */
export function rope(x: usize, heads: i32, d: i32, cos: usize, sin: usize): void {
  const half = d >> 1;
  const h4 = half & ~3;
  const halfBytes = <usize>half << 2;
  for (let h = 0; h < heads; h++) {
    const a = x + (<usize>(h * d) << 2);
    const b = a + halfBytes;
    for (let i = 0; i < h4; i += 4) {
      const o = <usize>i << 2;
      const av = v128.load(a + o);
      const bv = v128.load(b + o);
      const c = v128.load(cos + o);
      const s = v128.load(sin + o);
      v128.store(a + o, f32x4.sub(f32x4.mul(av, c), f32x4.mul(bv, s)));
      v128.store(b + o, f32x4.add(f32x4.mul(bv, c), f32x4.mul(av, s)));
    }
    for (let i = h4; i < half; i++) {
      const o = <usize>i << 2;
      const av = load<f32>(a + o);
      const bv = load<f32>(b + o);
      const c = load<f32>(cos + o);
      const s = load<f32>(sin + o);
      store<f32>(a + o, av * c - bv * s);
      store<f32>(b + o, bv * c + av * s);
    }
  }
}

/**
 * 1.5 * 2^23, whose float bits are 0x4b400000: x + MAGIC_ROUND holds round-to-even(x) in its low
 * bits for |x| < 2^22, so (bits of x + MAGIC_ROUND) - 0x4b400000 is that integer.
 */
const MAGIC_ROUND: f32 = 12582912.0;

/**
 * Codes of four values in [0, 2^22): round to nearest even of v * inv (as quantize4, without its NaN
 * and range handling). magic: MAGIC_ROUND in every lane, from a register (lane2(expConstants(0))):
 * added as a float, its bits then subtracted as integers.
 */
@inline function quantizeInRange4(v: v128, inv: v128, magic: v128): v128 {
  return i32x4.sub(f32x4.add(f32x4.mul(v, inv), magic), magic);
}

/** Infinity in every lane, for scoresOf's test, loaded before scoreHeads' loop (see EXP_CONSTANTS). */
const INFINITY4 = memory.data<f32>([Infinity, Infinity, Infinity, Infinity]);

/**
 * exp4's constants, four to a vector (k0..k3 below): Cephes' expf's, and MAGIC_ROUND - 127, whose
 * float bits are MAGIC_ROUND's less 127 (floats in [2^23, 2^24) are whole numbers one apart, as their
 * bits are).
 *
 * They live in memory, loaded into vectors before a loop, because Chromium 150's V8 builds a v128
 * constant anew each time a loop uses it (Node 20's does not): with exp4's thirteen splatted
 * constants, the exp of the int8 attention cost Chromium about three times what it cost Node (0.86
 * against 0.30 ms for 30 layers at 2000 positions on one thread of a 2-core Zen 4); loaded once and
 * broadcast by a lane shuffle each, the whole attention took 12 % less in Chromium and 1 % more in
 * Node (bench/experiments/browser-kernel-time.ts, bench/results/wasm-cpu-speed.md). Memory is
 * opaque to the compiler, which would fold constants in locals back into the loop.
 */
const EXP_CONSTANTS = memory.data<f32>([
  -87.0, 1.44269504089, MAGIC_ROUND, 0.693359375,
  -2.12194440e-4, 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
  4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1.0,
  MAGIC_ROUND - 127, 0.0, 0.0, 0.0,
]);

/** Lane i of k in every lane (one pshufd on x64). */
@inline function lane0(k: v128): v128 {
  return v128.shuffle<i32>(k, k, 0, 0, 0, 0);
}
@inline function lane1(k: v128): v128 {
  return v128.shuffle<i32>(k, k, 1, 1, 1, 1);
}
@inline function lane2(k: v128): v128 {
  return v128.shuffle<i32>(k, k, 2, 2, 2, 2);
}
@inline function lane3(k: v128): v128 {
  return v128.shuffle<i32>(k, k, 3, 3, 3, 3);
}

/** exp4's constant vector i (0..3), to load before a loop. */
@inline function expConstants(i: i32): v128 {
  return v128.load(EXP_CONSTANTS + (<usize>i << 4));
}

/** exp of four lanes, its constants loaded here: for a loop's tail or a use outside any hot loop. */
@inline function exp4(x: v128): v128 {
  return exp4With(x, expConstants(0), expConstants(1), expConstants(2), expConstants(3));
}

/**
 * exp of four lanes (Cephes' expf: 2^n times a degree-6 polynomial on [-ln2/2, ln2/2], within 2 ulp
 * of Mathf.exp) for x <= 0, as softmax feeds it; below -87 it gives about 1e-38 instead of 0. k0..k3:
 * expConstants(0..3), loaded before the caller's loop.
 */
@inline function exp4With(x: v128, k0: v128, k1: v128, k2: v128, k3: v128): v128 {
  // pmax(x, c) = x < c ? c : x: one instruction where f32x4.max takes seven; a NaN x stays NaN.
  const v = f32x4.pmax(x, lane0(k0));
  // n = round-to-even(v log2 e) by adding 1.5 * 2^23: the sum's low mantissa bits are n's two's
  // complement (|n| < 2^22), so n needs neither f32x4.nearest nor a saturating conversion.
  const magic = lane2(k0);
  const biased = f32x4.add(f32x4.mul(v, lane1(k0)), magic);
  const n = f32x4.sub(biased, magic);
  let r = f32x4.sub(v, f32x4.mul(n, lane3(k0)));
  r = f32x4.sub(r, f32x4.mul(n, lane0(k1)));
  let p = lane1(k1);
  p = f32x4.add(f32x4.mul(p, r), lane2(k1));
  p = f32x4.add(f32x4.mul(p, r), lane3(k1));
  p = f32x4.add(f32x4.mul(p, r), lane0(k2));
  p = f32x4.add(f32x4.mul(p, r), lane1(k2));
  p = f32x4.add(f32x4.mul(p, r), lane2(k2));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), lane3(k2));
  // 2^n: n + 127 in the exponent bits; (bits of biased) - (bits of MAGIC_ROUND - 127) = n + 127.
  const scale = i32x4.shl(i32x4.sub(biased, lane0(k3)), 23);
  return f32x4.mul(p, scale);
}

/**
 * attentionWeightExp4With's constants, four to a vector (loaded before a loop, as EXP_CONSTANTS): the
 * clamp, log2(e), MAGIC_ROUND, MAGIC_ROUND - 127; then 2^f's polynomial on [-1/2, 1/2], degree 4,
 * fitted for the least largest relative error (2.8e-6 in float32 arithmetic).
 */
const WEIGHT_EXP_CONSTANTS = memory.data<f32>([
  -87.0, 1.44269504089, MAGIC_ROUND, MAGIC_ROUND - 127,
  0.9999992847442627, 0.6931217908859253, 0.240247443318367, 0.05591786280274391,
  0.009570101276040077, 0.0, 0.0, 0.0,
]);

/** attentionWeightExp4With's constant vector i (0..2), to load before a loop. */
@inline function weightExpConstants(i: i32): v128 {
  return v128.load(WEIGHT_EXP_CONSTANTS + (<usize>i << 4));
}

/**
 * exp of four lanes x <= 0 for the int8 attention's weights, within 8e-6 relative (the polynomial's
 * 2.8e-6, and x log2(e)'s float32 rounding, 2^-24 of |x log2 e| <= 126), where exp4 is within 2 ulp:
 * those weights become int16 codes of their chunk's largest right after (a step of 1.5e-5 of it), and
 * the int8 cache's own error is about 1e-2. In base 2, n = round(x log2 e), f = x log2 e - n, 2^n
 * 2^f, with 15 operations and 9 broadcasts against exp4's 25 and 13: the int8 attention over 2000
 * positions 9 % less time on one thread (3.43 -> 3.11 ms hot in Chromium, 30 layers of the 135M
 * shape; bench/results/wasm-cpu-speed.md). Below -87 as exp4, about 1e-38; a NaN stays NaN.
 * k0..k2: weightExpConstants(0..2).
 */
@inline function attentionWeightExp4With(x: v128, k0: v128, k1: v128, k2: v128): v128 {
  const v = f32x4.pmax(x, lane0(k0));
  const t = f32x4.mul(v, lane1(k0));
  const magic = lane2(k0);
  const biased = f32x4.add(t, magic);
  // t - n is exact (|t - n| <= 1/2, both floats of the same binade or below).
  const f = f32x4.sub(t, f32x4.sub(biased, magic));
  let p = lane0(k2);
  p = f32x4.add(f32x4.mul(p, f), lane3(k1));
  p = f32x4.add(f32x4.mul(p, f), lane2(k1));
  p = f32x4.add(f32x4.mul(p, f), lane1(k1));
  p = f32x4.add(f32x4.mul(p, f), lane0(k1));
  // 2^n as exp4 makes it: n + 127 in the exponent bits.
  const scale = i32x4.shl(i32x4.sub(biased, lane3(k0)), 23);
  return f32x4.mul(p, scale);
}

/**
 * exp(x[i] - m) in place over x[n] (m their largest), four at a time and then the tail, each with the
 * same function (a value's result does not depend on its block); returns their sum. `weights`: the
 * int8 attention's weights, with attentionWeightExp4With; else exp4's.
 */
@inline function expShifted(x: usize, n: i32, m: f32, weights: bool): f32 {
  const n4 = n & ~3;
  const ms = f32x4.splat(m);
  let sv = f32x4.splat(0);
  let sum: f32 = 0;
  if (weights) {
    const w0 = weightExpConstants(0), w1 = weightExpConstants(1), w2 = weightExpConstants(2);
    for (let i = 0; i < n4; i += 4) {
      const o = <usize>i << 2;
      const e = attentionWeightExp4With(f32x4.sub(v128.load(x + o), ms), w0, w1, w2);
      v128.store(x + o, e);
      sv = f32x4.add(sv, e);
    }
    sum = hsum(sv);
    for (let i = n4; i < n; i++) {
      const o = <usize>i << 2;
      const e = f32x4.extract_lane(attentionWeightExp4With(f32x4.splat(load<f32>(x + o) - m), w0, w1, w2), 0);
      store<f32>(x + o, e);
      sum += e;
    }
  } else {
    const k0 = expConstants(0), k1 = expConstants(1), k2 = expConstants(2), k3 = expConstants(3);
    for (let i = 0; i < n4; i += 4) {
      const o = <usize>i << 2;
      const e = exp4With(f32x4.sub(v128.load(x + o), ms), k0, k1, k2, k3);
      v128.store(x + o, e);
      sv = f32x4.add(sv, e);
    }
    sum = hsum(sv);
    for (let i = n4; i < n; i++) {
      const o = <usize>i << 2;
      const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(x + o) - m)), 0);
      store<f32>(x + o, e);
      sum += e;
    }
  }
  return sum;
}

/** Softmax in place over x[n]; returns nothing, the sum is folded in. */
export function softmax(x: usize, n: i32): void {
  const n4 = n & ~3;
  let mv = f32x4.splat(-Infinity);
  for (let i = 0; i < n4; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  let m: f32 = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (let i = n4; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  const sum = expShifted(x, n, m, false);
  const inv = f32x4.splat(<f32>1 / sum);
  for (let i = 0; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.mul(v128.load(x + o), inv));
  }
  for (let i = n4; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) * (<f32>1 / sum));
  }
}

/**
 * out[n] = silu(gateUp[i]) * gateUp[n + i]: the merged gate|up projection's two halves. Four lanes at
 * a time with exp4, which takes arguments <= 0: e = exp(-|g|), and silu(g) = g / (1 + e) for g >= 0,
 * g e / (1 + e) below (the same value, g / (1 + exp(-g)), without overflow). The tail runs the same
 * lanes on one value, so a gate's result does not depend on its position.
 */
export function swiglu(out: usize, gateUp: usize, n: i32): void {
  const upBase = gateUp + (<usize>n << 2);
  const n4 = n & ~3;
  const k0 = expConstants(0), k1 = expConstants(1), k2 = expConstants(2), k3 = expConstants(3);
  for (let i = 0; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(silu4(v128.load(gateUp + o), k0, k1, k2, k3), v128.load(upBase + o)));
  }
  for (let i = n4; i < n; i++) {
    const o = <usize>i << 2;
    const g = f32x4.extract_lane(silu4(f32x4.splat(load<f32>(gateUp + o)), k0, k1, k2, k3), 0);
    store<f32>(out + o, g * load<f32>(upBase + o));
  }
}

/**
 * silu of four gates. exp4 clamps its argument at -87, so below -87 e is taken as 0 (exp(-87) is
 * 1.6e-38, and g times it is no longer negligible once |g| passes about 1e30): silu(g) is then g * 0,
 * -0 as the graph's g * sigmoid(g) gives, and NaN for -Infinity, as the graph gives too.
 */
@inline function silu4(g: v128, k0: v128, k1: v128, k2: v128, k3: v128): v128 {
  // lane0(k0) is -87 and lane3(k2) is 1 (EXP_CONSTANTS): constants from registers, as in exp4With.
  const e = v128.andnot(exp4With(f32x4.neg(f32x4.abs(g)), k0, k1, k2, k3), f32x4.lt(g, lane0(k0)));
  const num = v128.bitselect(g, f32x4.mul(g, e), f32x4.ge(g, f32x4.splat(0)));
  return f32x4.div(num, f32x4.add(lane3(k2), e));
}

// ---- attention over the KV cache (flash-decoding) ----
// A query's positions are cut into segments of whole cache chunks whose length depends on the
// context alone (segmentChunks), never on the thread count. A unit (query token, kv head,
// query heads of its group, segment) writes, per query head, its segment's score maximum m, the sum
// l of exp(score - m), and the unnormalised output sum of exp(score - m) * value; attentionCombine
// then merges a head's segments in segment order. Every unit's arithmetic is fixed by its segment, so
// a split over threads (or none) gives bit-identical results, and a token's output does not depend on
// whether it ran in a prefill chunk or a decode step. Against one softmax over all positions (the
// kernel before segments) the merge rounds differently: outputs agree to float32 rounding, not bit
// for bit (test/unit/cpu-kernels.test.ts checks records and outputs against a float64 reference).

/**
 * Cache chunks per segment at least: 4, or as many whole chunks as SEGMENT_MIN_POSITIONS holds where
 * that is fewer, and 1 at least (4 of 64 positions, 2 of 128, 1 of 256 or 512, 1 of 136).
 */
const SEGMENT_MIN_CHUNKS: i32 = 4;
const SEGMENT_MIN_POSITIONS: i32 = 256;
/** Segments per query at most: a partial record's slots per (token, head). */
const ATTENTION_MAX_SEGMENTS: i32 = 16;

/** Cache chunks per segment for a query seeing `t` positions. */
@inline function segmentChunks(t: i32, chunkPositions: i32): i32 {
  const chunks = (t + chunkPositions - 1) / chunkPositions;
  const least = max(1, min(SEGMENT_MIN_CHUNKS, SEGMENT_MIN_POSITIONS / chunkPositions));
  return max(least, (chunks + ATTENTION_MAX_SEGMENTS - 1) / ATTENTION_MAX_SEGMENTS);
}

/**
 * Segments of a query seeing `t` positions (1 to ATTENTION_MAX_SEGMENTS). Not monotonic: where the
 * chunks pass a multiple of 16, segments lengthen by a chunk and their count falls (16 to 13 at 64 chunks).
 */
export function attentionSegments(t: i32, chunkPositions: i32): i32 {
  const span = segmentChunks(t, chunkPositions) * chunkPositions;
  return (t + span - 1) / span;
}

/** Floats of one partial record: m, l, two spare, then d output sums (16-byte aligned where d is a multiple of 4). */
@inline function recordFloats(d: i32): i32 {
  return d + 4;
}

/** Bytes of partials a job of `tokens` queries needs: a record per token, head and segment slot. */
export function attentionPartialBytes(tokens: i32, heads: i32, d: i32): usize {
  return <usize>tokens * <usize>heads * <usize>ATTENTION_MAX_SEGMENTS * (<usize>recordFloats(d) << 2);
}

/**
 * One query position's attention over `t` cached positions, grouped-query: query head h reads kv head
 * h / (heads / kvHeads). The cache is a run of chunks of `chunkPositions` positions, `chunkBytes`
 * apart; inside a chunk one kv head's keys (and values) are contiguous [chunkPositions, d], so the
 * scan streams through memory. Runs every unit of attentionUnits for this one token, then
 * attentionCombine: the same arithmetic as any split of the pool's. k (v): the first chunk's keys
 * (values) of this layer, kv head 0. q [heads, d]; scores: (heads / kvHeads) * t floats of scratch;
 * partials: attentionPartialBytes(1, heads, d) bytes; out [heads, d].
 */
export function attention(
  out: usize,
  q: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  t: i32,
  heads: i32,
  kvHeads: i32,
  d: i32,
  scale: f32,
  scores: usize,
  partials: usize,
): void {
  attentionOf(false, out, q, k, v, chunkBytes, chunkPositions, t, heads, kvHeads, d, scale, scores, partials);
}

/** attention over an int8 cache (kvStoreI8's layout; d a multiple of 16, at most 512). */
export function attentionI8(
  out: usize,
  q: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  t: i32,
  heads: i32,
  kvHeads: i32,
  d: i32,
  scale: f32,
  scores: usize,
  partials: usize,
): void {
  attentionOf(true, out, q, k, v, chunkBytes, chunkPositions, t, heads, kvHeads, d, scale, scores, partials);
}

@inline function attentionOf(
  int8: bool,
  out: usize,
  q: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  t: i32,
  heads: i32,
  kvHeads: i32,
  d: i32,
  scale: f32,
  scores: usize,
  partials: usize,
): void {
  const group = heads / kvHeads;
  const segs = attentionSegments(t, chunkPositions);
  unitsOf(int8, partials, q, 0, k, v, chunkBytes, chunkPositions, t, heads, kvHeads, d, scale, scores, group, segs, 0, kvHeads * segs);
  attentionCombine(out, partials, 1, t, heads, d, chunkPositions);
}

/**
 * The thread pool's share of a prefill chunk's (or a decode step's) attention: units [u0, u1) of
 * `tokens` query positions x `kvHeads` x parts of `perUnit` query heads of a kv group (the last part
 * of a group may be smaller) x `segs` segment slots (the most any of the tokens has: the count is
 * not monotonic in t; a token's slots past its own segments are empty units). Token i's queries are at q + i * qStride, and it sees
 * t0 + i positions (causal). A unit writes its heads' partial records (attentionCombine reads them);
 * scores: perUnit * (segment length) floats of this thread's own scratch, at most perUnit * (t0 + tokens - 1).
 */
export function attentionUnits(
  partials: usize,
  q: usize,
  qStride: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  t0: i32,
  heads: i32,
  kvHeads: i32,
  d: i32,
  scale: f32,
  scores: usize,
  perUnit: i32,
  segs: i32,
  u0: i32,
  u1: i32,
): void {
  unitsOf(false, partials, q, qStride, k, v, chunkBytes, chunkPositions, t0, heads, kvHeads, d, scale, scores, perUnit, segs, u0, u1);
}

/** attentionUnits over an int8 cache (kvStoreI8's layout; d a multiple of 16, at most 512). */
export function attentionUnitsI8(
  partials: usize,
  q: usize,
  qStride: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  t0: i32,
  heads: i32,
  kvHeads: i32,
  d: i32,
  scale: f32,
  scores: usize,
  perUnit: i32,
  segs: i32,
  u0: i32,
  u1: i32,
): void {
  unitsOf(true, partials, q, qStride, k, v, chunkBytes, chunkPositions, t0, heads, kvHeads, d, scale, scores, perUnit, segs, u0, u1);
}

@inline function unitsOf(
  int8: bool,
  partials: usize,
  q: usize,
  qStride: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  t0: i32,
  heads: i32,
  kvHeads: i32,
  d: i32,
  scale: f32,
  scores: usize,
  perUnit: i32,
  segs: i32,
  u0: i32,
  u1: i32,
): void {
  const group = heads / kvHeads;
  const parts = (group + perUnit - 1) / perUnit;
  const perGroup = parts * segs;
  const perToken = kvHeads * perGroup;
  const recordBytes = <usize>recordFloats(d) << 2;
  const tokenBytes = <usize>heads * <usize>ATTENTION_MAX_SEGMENTS * recordBytes;
  for (let u = u0; u < u1; u++) {
    const i = u / perToken;
    const r = u - i * perToken;
    const g = r / perGroup;
    const r2 = r - g * perGroup;
    const part = r2 / segs;
    const s = r2 - part * segs;
    const t = t0 + i;
    const span = segmentChunks(t, chunkPositions);
    const c0 = s * span;
    const p0 = c0 * chunkPositions;
    if (p0 >= t) continue;
    const j0 = part * perUnit;
    if (int8) {
      attendSegmentI8(
        partials + <usize>i * tokenBytes,
        q + <usize>i * qStride,
        k + <usize>c0 * chunkBytes,
        v + <usize>c0 * chunkBytes,
        chunkBytes,
        chunkPositions,
        min(t - p0, span * chunkPositions),
        d,
        scale,
        scores,
        g,
        g * group + j0,
        min(perUnit, group - j0),
        s,
        i == 0,
      );
    } else {
      attendSegment(
        partials + <usize>i * tokenBytes,
        q + <usize>i * qStride,
        k + <usize>c0 * chunkBytes,
        v + <usize>c0 * chunkBytes,
        chunkBytes,
        chunkPositions,
        min(t - p0, span * chunkPositions),
        d,
        scale,
        scores,
        g,
        g * group + j0,
        min(perUnit, group - j0),
        s,
        i == 0,
      );
    }
  }
}

/**
 * out [tokens, heads, d] from the partial records of `tokens` queries, the first seeing t0 positions:
 * per head, M = the largest segment maximum, w_s = exp(m_s - M), and out = (sum of w_s * o_s) / (sum
 * of w_s * l_s), the segments taken in order.
 */
export function attentionCombine(out: usize, partials: usize, tokens: i32, t0: i32, heads: i32, d: i32, chunkPositions: i32): void {
  const recordBytes = <usize>recordFloats(d) << 2;
  const headBytes = <usize>d << 2;
  const d4 = d & ~3;
  for (let i = 0; i < tokens; i++) {
    const segs = attentionSegments(t0 + i, chunkPositions);
    for (let h = 0; h < heads; h++) {
      const rec = partials + (<usize>(i * heads + h) * <usize>ATTENTION_MAX_SEGMENTS) * recordBytes;
      const oh = out + <usize>(i * heads + h) * headBytes;
      let mx = load<f32>(rec);
      for (let s = 1; s < segs; s++) mx = max(mx, load<f32>(rec + <usize>s * recordBytes));
      let sum: f32 = 0;
      for (let e = 0; e < d4; e += 4) v128.store(oh + (<usize>e << 2), f32x4.splat(0));
      for (let e = d4; e < d; e++) store<f32>(oh + (<usize>e << 2), 0);
      for (let s = 0; s < segs; s++) {
        const rs = rec + <usize>s * recordBytes;
        const w = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(rs) - mx)), 0);
        sum += w * load<f32>(rs, 4);
        const wv = f32x4.splat(w);
        const os = rs + 16;
        for (let e = 0; e < d4; e += 4) {
          const o = <usize>e << 2;
          v128.store(oh + o, f32x4.add(v128.load(oh + o), f32x4.mul(v128.load(os + o), wv)));
        }
        for (let e = d4; e < d; e++) {
          const o = <usize>e << 2;
          store<f32>(oh + o, load<f32>(oh + o) + load<f32>(os + o) * w);
        }
      }
      const inv: f32 = <f32>1 / sum;
      const iv = f32x4.splat(inv);
      for (let e = 0; e < d4; e += 4) {
        const o = <usize>e << 2;
        v128.store(oh + o, f32x4.mul(v128.load(oh + o), iv));
      }
      for (let e = d4; e < d; e++) {
        const o = <usize>e << 2;
        store<f32>(oh + o, load<f32>(oh + o) * inv);
      }
    }
  }
}

/** [sum of a0, sum of a1, sum of a2, sum of a3], each lane sum as (x0 + x2) + (x1 + x3). */
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(f32x4.shuffle(a0, a1, 0, 1, 4, 5), f32x4.shuffle(a0, a1, 2, 3, 6, 7));
  const s23 = f32x4.add(f32x4.shuffle(a2, a3, 0, 1, 4, 5), f32x4.shuffle(a2, a3, 2, 3, 6, 7));
  return f32x4.add(f32x4.shuffle(s01, s23, 0, 2, 4, 6), f32x4.shuffle(s01, s23, 1, 3, 5, 7));
}

/** One lane sum as hsum4 makes it: (x0 + x2) + (x1 + x3). */
@inline function hsum1(a: v128): f32 {
  return (
    f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 2) + (f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 3))
  );
}

/**
 * Query heads [h0, h0 + m) of kv head g over one segment of n positions, starting at chunk k (v): per
 * head the record (m, l, o) in slot s of its row of partial records at `partials` (the token's).
 * Scores: a query vector against 4 keys at a time, the 4 sums reduced together by shuffles (hsum4),
 * not lane by lane; a score gets the same operations in a group of 4 or alone (8 keys at a time, or
 * 16 floats a step at immediate offsets, or two heads per key load, measured no faster). Values: the
 * output in registers, 8 vectors (32 floats) at a time, over a chunk's positions, so a chunk's values
 * stay in cache while every head of the unit takes them. At 2000 positions the cache (92 MB on the 135M
 * twin) no longer fits any CPU cache and the scan waits on memory, one miss after another: the unit
 * first touches all its keys and values (one load per cache line, `touchUnit`), a burst whose misses
 * overlap (WebAssembly has no prefetch). `ahead`: only for a job's first query token: the later tokens
 * of a prefill chunk find the cache the first one read still in the CPU's caches, and touches there
 * cost about 10 % of the attention.
 */
@inline function attendSegment(
  partials: usize,
  q: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  n: i32,
  d: i32,
  scale: f32,
  scores: usize,
  g: i32,
  h0: i32,
  m: i32,
  s: i32,
  ahead: bool,
): void {
  const headBytes = <usize>d << 2;
  const headChunkBytes = <usize>chunkPositions * headBytes;
  const scoreBytes = <usize>n << 2;
  const recordBytes = <usize>recordFloats(d) << 2;
  const rowBytes = <usize>ATTENTION_MAX_SEGMENTS * recordBytes;
  const d4 = d & ~3;
  const kv = <usize>g * headChunkBytes;
  const sc = f32x4.splat(scale);
  // A spare float of the first head's record takes the touches' sum (nothing reads it).
  const sink = partials + <usize>h0 * rowBytes + <usize>s * recordBytes + 8;
  if (ahead) touchUnit(k + kv, v + kv, chunkBytes, headChunkBytes, chunkPositions, n, sink, false, d);
  for (let p0 = 0, c: usize = 0; p0 < n; p0 += chunkPositions, c += chunkBytes) {
    const len = min(chunkPositions, n - p0);
    const kc = k + c + kv;
    for (let j = 0; j < m; j++) {
      const qh = q + <usize>(h0 + j) * headBytes;
      const sj = scores + <usize>j * scoreBytes + (<usize>p0 << 2);
      let i = 0;
      for (; i + 4 <= len; i += 4) {
        const k0 = kc + <usize>i * headBytes;
        const k1 = k0 + headBytes;
        const k2 = k1 + headBytes;
        const k3 = k2 + headBytes;
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        let a2 = f32x4.splat(0);
        let a3 = f32x4.splat(0);
        for (let e = 0; e < d4; e += 4) {
          const o = <usize>e << 2;
          const qv = v128.load(qh + o);
          a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + o)));
          a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + o)));
          a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + o)));
          a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + o)));
        }
        let lo = hsum4(a0, a1, a2, a3);
        if (d4 < d) lo = f32x4.add(lo, tail4(qh, k0, headBytes, d4, d));
        v128.store(sj + (<usize>i << 2), f32x4.mul(lo, sc));
      }
      for (; i < len; i++) {
        const kp = kc + <usize>i * headBytes;
        let a = f32x4.splat(0);
        for (let e = 0; e < d4; e += 4) {
          const o = <usize>e << 2;
          a = f32x4.add(a, f32x4.mul(v128.load(qh + o), v128.load(kp + o)));
        }
        // The tail as tail4 sums one lane: from 0, product by product.
        let tl: f32 = 0;
        for (let e = d4; e < d; e++) tl += load<f32>(qh + (<usize>e << 2)) * load<f32>(kp + (<usize>e << 2));
        let sum = hsum1(a);
        if (d4 < d) sum += tl;
        store<f32>(sj + (<usize>i << 2), sum * scale);
      }
    }
  }
  segmentSoftmax(partials, scores, scoreBytes, n, h0, m, s, rowBytes, recordBytes, headBytes, false);
  // Per chunk, head and block of the output: o += w_p * value_p over the chunk's positions.
  const d32 = d & ~31;
  for (let p0 = 0, c: usize = 0; p0 < n; p0 += chunkPositions, c += chunkBytes) {
    const len = min(chunkPositions, n - p0);
    const vc = v + c + kv;
    for (let j = 0; j < m; j++) {
      const oh = partials + <usize>(h0 + j) * rowBytes + <usize>s * recordBytes + 16;
      const wj = scores + <usize>j * scoreBytes + (<usize>p0 << 2);
      let e = 0;
      for (; e < d32; e += 32) {
        const ob = oh + (<usize>e << 2);
        let o0 = v128.load(ob);
        let o1 = v128.load(ob, 16);
        let o2 = v128.load(ob, 32);
        let o3 = v128.load(ob, 48);
        let o4 = v128.load(ob, 64);
        let o5 = v128.load(ob, 80);
        let o6 = v128.load(ob, 96);
        let o7 = v128.load(ob, 112);
        let vp = vc + (<usize>e << 2);
        for (let i = 0; i < len; i++, vp += headBytes) {
          const w = v128.load32_splat(wj + (<usize>i << 2));
          o0 = f32x4.add(o0, f32x4.mul(v128.load(vp), w));
          o1 = f32x4.add(o1, f32x4.mul(v128.load(vp, 16), w));
          o2 = f32x4.add(o2, f32x4.mul(v128.load(vp, 32), w));
          o3 = f32x4.add(o3, f32x4.mul(v128.load(vp, 48), w));
          o4 = f32x4.add(o4, f32x4.mul(v128.load(vp, 64), w));
          o5 = f32x4.add(o5, f32x4.mul(v128.load(vp, 80), w));
          o6 = f32x4.add(o6, f32x4.mul(v128.load(vp, 96), w));
          o7 = f32x4.add(o7, f32x4.mul(v128.load(vp, 112), w));
        }
        v128.store(ob, o0);
        v128.store(ob, o1, 16);
        v128.store(ob, o2, 32);
        v128.store(ob, o3, 48);
        v128.store(ob, o4, 64);
        v128.store(ob, o5, 80);
        v128.store(ob, o6, 96);
        v128.store(ob, o7, 112);
      }
      for (; e < d4; e += 4) {
        const ob = oh + (<usize>e << 2);
        let o0 = v128.load(ob);
        let vp = vc + (<usize>e << 2);
        for (let i = 0; i < len; i++, vp += headBytes) {
          o0 = f32x4.add(o0, f32x4.mul(v128.load(vp), v128.load32_splat(wj + (<usize>i << 2))));
        }
        v128.store(ob, o0);
      }
      for (; e < d; e++) {
        const ob = oh + (<usize>e << 2);
        let acc = load<f32>(ob);
        let vp = vc + (<usize>e << 2);
        for (let i = 0; i < len; i++, vp += headBytes) acc = acc + load<f32>(vp) * load<f32>(wj + (<usize>i << 2));
        store<f32>(ob, acc);
      }
    }
  }
}

/**
 * The lanes' maxima of mv and the n4 floats at x (n4 a multiple of 4), a lane holding NaN where any of
 * its values is NaN (as f32x4.max, which takes seven instructions on x64 where pmax takes one).
 */
@inline function runningMax(mv: v128, x: usize, n4: i32): v128 {
  let nan = i32x4.splat(0);
  for (let i = 0; i < n4; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    mv = f32x4.pmax(mv, v);
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  // All-ones bits are a NaN.
  return v128.or(mv, nan);
}

/**
 * Per head j < m of a unit: the segment's maximum of its n scores (at scores + j * scoreBytes),
 * exp(score - maximum) in place, and their sum, into the head's record (slot s), its output sums zeroed.
 * `int8`: the int8 cache's attention, whose weights take attentionWeightExp4With; else exp4's.
 */
@inline function segmentSoftmax(
  partials: usize,
  scores: usize,
  scoreBytes: usize,
  n: i32,
  h0: i32,
  m: i32,
  s: i32,
  rowBytes: usize,
  recordBytes: usize,
  headBytes: usize,
  int8: bool,
): void {
  for (let j = 0; j < m; j++) {
    const x = scores + <usize>j * scoreBytes;
    const n4 = n & ~3;
    let mv = f32x4.splat(-Infinity);
    mv = runningMax(mv, x, n4);
    let mx: f32 = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let i = n4; i < n; i++) mx = max(mx, load<f32>(x + (<usize>i << 2)));
    let sum: f32 = 0;
    if (mx == -Infinity) {
      // Every score -Infinity (keys that overflow the dot product): the segment weighs nothing, as
      // these positions do in one softmax whose maximum is elsewhere (exp(-Inf - -Inf) would be NaN).
      memory.fill(x, 0, scoreBytes);
    } else {
      sum = expShifted(x, n, mx, int8);
    }
    const rec = partials + <usize>(h0 + j) * rowBytes + <usize>s * recordBytes;
    store<f32>(rec, mx);
    store<f32>(rec, sum, 4);
    memory.fill(rec + 16, 0, headBytes);
  }
}

// ---- the int8 KV cache (q4 files by default) ----
// One kv head's keys (values) of one cache chunk of P positions, P' = P rounded up to 8: P' * d int8
// codes, then P' float scales (the padding unused). A position's codes are round(x * 127 / m) (ties
// to even), m the largest |x| of its d floats, and its scale m / 127. Keys lie in pairs of elements,
// [d / 2][P'][2], so one 16-byte load holds elements 2e, 2e + 1 of 8 positions and a lane of
// i32x4.dot_i16x8_s against the query's pair is one position's (no sums across lanes); values in
// pairs of positions, [position / 2][d][position % 2], so one load holds 8 elements of two positions
// and the weighted sum over positions is the same integer dot product against the weights' pair.
// A score is the exact integer dot product of the key's codes with the query's int16 codes (round(q *
// 32767 / max|q|)), times the query's scale, the key's and 1/sqrt(d); a chunk's weighted values are
// an exact integer sum of the value codes times int16 codes of the weights exp(score - m) * (value
// scale), quantised per chunk and head against their largest, then scaled back in float32. The
// integers make the result independent of how the units are split; the rounding per element is a
// 254th of its position's largest (keys, values), and a weight's a 65534th of the chunk's largest
// weight times value scale (so a position whose values are far larger coarsens the others' weights).
// The weights' exp is attentionWeightExp4With's, within 8e-6 of exp: below that 65534th.

/** Bytes of one kv head's keys (or values) in a chunk of `chunkPositions` positions of an int8 cache. */
export function kvHeadChunkBytesI8(chunkPositions: i32, d: i32): usize {
  return codesBytesI8(chunkPositions, d) + (<usize>paddedPositions(chunkPositions) << 2);
}

/** A chunk's positions rounded up to a block of 8 (the keys' layout reads 8 positions at a time). */
@inline function paddedPositions(chunkPositions: i32): i32 {
  return (chunkPositions + 7) & ~7;
}

/** Bytes of a head's codes in a chunk (the padded positions' d codes each); its scales follow. */
@inline function codesBytesI8(chunkPositions: i32, d: i32): usize {
  return <usize>paddedPositions(chunkPositions) * <usize>d;
}

/**
 * Stores position p (0 <= p < chunkPositions) of one kv head's key (d floats at `key`) and value
 * (at `value`) into its int8 cache chunk: `keys` (`values`) the head's keys (values) in that chunk.
 * A vector holding NaN or an infinity gets a NaN scale (every score or output it reaches is NaN, as in
 * float32); an all-zero one (or one too small for its scale m / 127 to be a float) codes 0, scale 0.
 */
export function kvStoreI8(keys: usize, values: usize, p: i32, key: usize, value: usize, d: i32, chunkPositions: i32): void {
  const scalesAt = codesBytesI8(chunkPositions, d) + (<usize>p << 2);
  const keyRow = <usize>paddedPositions(chunkPositions) << 1;
  store<f32>(keys + scalesAt, quantizeKv(keys + (<usize>p << 1), keyRow, 1, key, d));
  const pairs = values + <usize>(p >> 1) * (<usize>d << 1) + <usize>(p & 1);
  store<f32>(values + scalesAt, quantizeKv(pairs, 4, 2, value, d));
}

/** d floats at x -> int8 codes, element e at out + (e >> 1) * pairStride + (e & 1) * oddStride; returns the scale. */
@inline function quantizeKv(out: usize, pairStride: usize, oddStride: usize, x: usize, d: i32): f32 {
  let m: f32 = 0;
  for (let e = 0; e < d; e++) m = max(m, abs<f32>(load<f32>(x + (<usize>e << 2))));
  // NaN anywhere: max(m, NaN) is NaN, so m != m; an infinity: m == Infinity.
  const finite = m == m && m < Infinity;
  const sc: f32 = finite ? m / 127 : NaN;
  const usable = finite && sc > 0;
  for (let e = 0; e < d; e++) {
    // x / sc, not x * (127 / m): a divisor as small as a subnormal scale still gives codes within 127.
    const c: i32 = usable ? <i32>nearest<f32>(load<f32>(x + (<usize>e << 2)) / sc) : 0;
    store<i8>(out + <usize>(e >> 1) * pairStride + <usize>(e & 1) * oddStride, <i8>min(127, max(-127, c)));
  }
  return usable || !finite ? sc : 0;
}

/**
 * attendSegment over an int8 cache: the same unit, records and softmax; integer dot products for the
 * scores and the weighted values (the section's comment). The query's int16 codes lie in its
 * record's output area (free until the softmax zeroes it), its scale in the record's last spare float.
 */
@inline function attendSegmentI8(
  partials: usize,
  q: usize,
  k: usize,
  v: usize,
  chunkBytes: usize,
  chunkPositions: i32,
  n: i32,
  d: i32,
  scale: f32,
  scores: usize,
  g: i32,
  h0: i32,
  m: i32,
  s: i32,
  ahead: bool,
): void {
  const headBytes = <usize>d << 2;
  const codesBytes = codesBytesI8(chunkPositions, d);
  const headChunkBytes = kvHeadChunkBytesI8(chunkPositions, d);
  const scoreBytes = <usize>n << 2;
  const recordBytes = <usize>recordFloats(d) << 2;
  const rowBytes = <usize>ATTENTION_MAX_SEGMENTS * recordBytes;
  const kv = <usize>g * headChunkBytes;
  const sc = f32x4.splat(scale);
  const keyRow = <usize>paddedPositions(chunkPositions) << 1;
  const sink = partials + <usize>h0 * rowBytes + <usize>s * recordBytes + 8;
  // The unit's keys and values, every line of them, before any arithmetic (touchUnit).
  if (ahead) touchUnit(k + kv, v + kv, chunkBytes, headChunkBytes, chunkPositions, n, sink, true, d);
  for (let j = 0; j < m; j++) {
    const rec = partials + <usize>(h0 + j) * rowBytes + <usize>s * recordBytes;
    store<f32>(rec, quantizeQuery(rec + 16, q + <usize>(h0 + j) * headBytes, d), 12);
  }
  for (let p0 = 0, c: usize = 0; p0 < n; p0 += chunkPositions, c += chunkBytes) {
    const len = min(chunkPositions, n - p0);
    const kc = k + c + kv;
    const ks = kc + codesBytes;
    // Heads three at a time: each 16 bytes of keys loaded and widened once for all three.
    for (let j = 0; j < m; j += 3) {
      const rec = partials + <usize>(h0 + j) * rowBytes + <usize>s * recordBytes;
      const out = scores + <usize>j * scoreBytes + (<usize>p0 << 2);
      const count = min(3, m - j);
      if (count == 3) scoreHeads(3, rec, rowBytes, kc, ks, keyRow, d, out, scoreBytes, len, sc);
      else if (count == 2) scoreHeads(2, rec, rowBytes, kc, ks, keyRow, d, out, scoreBytes, len, sc);
      else scoreHeads(1, rec, rowBytes, kc, ks, keyRow, d, out, scoreBytes, len, sc);
    }
  }
  segmentSoftmax(partials, scores, scoreBytes, n, h0, m, s, rowBytes, recordBytes, headBytes, true);
  // Per chunk and head: the weights w_p * (value scale) as int16 codes of their largest, packed in
  // pairs in place of the chunk's scores; then o += (integer sum over pairs) * largest / 32767.
  for (let p0 = 0, c: usize = 0; p0 < n; p0 += chunkPositions, c += chunkBytes) {
    const len = min(chunkPositions, n - p0);
    const vc = v + c + kv;
    const vs = vc + codesBytes;
    const rows = (len + 1) >> 1;
    // Heads three at a time, as the scores: each 16 bytes of values loaded and widened once for all three.
    for (let j = 0; j < m; j += 3) {
      const count = min(3, m - j);
      const oh = partials + <usize>(h0 + j) * rowBytes + <usize>s * recordBytes + 16;
      const wj = scores + <usize>j * scoreBytes + (<usize>p0 << 2);
      const back0 = f32x4.splat(packWeights(wj, vs, len) / 32767);
      const back1 = count > 1 ? f32x4.splat(packWeights(wj + scoreBytes, vs, len) / 32767) : back0;
      const back2 = count > 2 ? f32x4.splat(packWeights(wj + (scoreBytes << 1), vs, len) / 32767) : back0;
      // A run of at most 256 pairs is flushed on its own: 256 * 2 * 127 * 32767 fits an int32 lane.
      for (let r0 = 0; r0 < rows; r0 += PAIRS_PER_FLUSH) {
        const n = min(rows, r0 + PAIRS_PER_FLUSH) - r0;
        const w = wj + (<usize>r0 << 2);
        const vp = vc + <usize>r0 * (<usize>d << 1);
        if (count == 3) weightedValuesHeads(3, oh, rowBytes, w, scoreBytes, vp, n, d, back0, back1, back2);
        else if (count == 2) weightedValuesHeads(2, oh, rowBytes, w, scoreBytes, vp, n, d, back0, back1, back2);
        else weightedValuesHeads(1, oh, rowBytes, w, scoreBytes, vp, n, d, back0, back1, back2);
      }
    }
  }
}

// Scores of query heads (int16 codes at rec + 16, scale at rec + 12) against a chunk's int8 keys:
// the exact integer dot product, times the query's and the key's scales and `scale` (scoresOf). Each
// lane is one key's own arithmetic, so a score does not depend on its block, its neighbours or the
// heads beside it.

/**
 * Scores of `count` (1 to 3) consecutive query heads (records rec0, rec0 + recStride, ..) against a
 * chunk's `len` keys, 8 positions at a time: each 16 bytes hold element pair e of 8 keys, read as two
 * widening 8-byte loads (v128.load8x8_s) once for every head and multiplied by the head's pair of
 * int16 codes (one i32 splat), so an int32 lane is one key's dot product and no lanes are summed
 * across. A block past `len` stores only its first len % 8 scores (the row's next floats belong to
 * the next head).
 */
@inline function scoreHeads(count: i32, rec0: usize, recStride: usize, kc: usize, ks: usize, keyRow: usize, d: i32, out0: usize, outStride: usize, len: i32, sc: v128): void {
  const q0 = rec0 + 16;
  const q1 = q0 + recStride;
  const q2 = q1 + recStride;
  const pairs = d >> 1;
  const inf = v128.load(INFINITY4);
  for (let i = 0; i < len; i += 8) {
    let a0 = i32x4.splat(0);
    let b0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let b1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let b2 = i32x4.splat(0);
    let kp = kc + (<usize>i << 1);
    for (let e = 0; e < pairs; e++, kp += keyRow) {
      const lo = v128.load8x8_s(kp);
      const hi = v128.load8x8_s(kp, 8);
      const o = <usize>e << 2;
      const w0 = v128.load32_splat(q0 + o);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(lo, w0));
      b0 = i32x4.add(b0, i32x4.dot_i16x8_s(hi, w0));
      if (count > 1) {
        const w1 = v128.load32_splat(q1 + o);
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(lo, w1));
        b1 = i32x4.add(b1, i32x4.dot_i16x8_s(hi, w1));
      }
      if (count > 2) {
        const w2 = v128.load32_splat(q2 + o);
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(lo, w2));
        b2 = i32x4.add(b2, i32x4.dot_i16x8_s(hi, w2));
      }
    }
    const left = len - i;
    const at = <usize>i << 2;
    storeScores8(out0 + at, a0, b0, rec0, ks + at, sc, left, inf);
    if (count > 1) storeScores8(out0 + outStride + at, a1, b1, rec0 + recStride, ks + at, sc, left, inf);
    if (count > 2) storeScores8(out0 + (outStride << 1) + at, a2, b2, rec0 + (recStride << 1), ks + at, sc, left, inf);
  }
}

/** Eight keys' integer dots (lo: keys 0-3, hi: 4-7) -> scores at out, only the first `left` where fewer. */
@inline function storeScores8(out: usize, lo: v128, hi: v128, rec: usize, ks: usize, sc: v128, left: i32, inf: v128): void {
  const s0 = scoresOf(lo, rec, ks, sc, inf);
  const s1 = scoresOf(hi, rec, ks + 16, sc, inf);
  if (left >= 8) {
    v128.store(out, s0);
    v128.store(out, s1, 16);
  } else {
    storeFirst(out, s0, left);
    storeFirst(out + 16, s1, left - 4);
  }
}

/** The first n (may be 0 or less, or 4 or more) lanes of v at out. */
@inline function storeFirst(out: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(out, v);
    return;
  }
  if (n > 0) store<f32>(out, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(out, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(out, f32x4.extract_lane(v, 2), 8);
}

/**
 * Four keys' integer dots -> their scores: dot * (query scale * key scale) * `scale`, or, where the
 * two scales' product overflows, (dot * query scale) * key scale (a dot of 0 then stays 0); a huge
 * query against tiny keys keeps the product of its scales finite, as float32's score is. inf: Infinity
 * in every lane (INFINITY4, loaded before the caller's loop).
 */
@inline function scoresOf(dots: v128, rec: usize, ks: usize, sc: v128, inf: v128): v128 {
  const qs = f32x4.splat(load<f32>(rec, 12));
  const kv = v128.load(ks);
  const both = f32x4.mul(qs, kv);
  const d = f32x4.convert_i32x4_s(dots);
  const finite = f32x4.lt(f32x4.abs(both), inf);
  const scored = v128.bitselect(f32x4.mul(d, both), f32x4.mul(f32x4.mul(d, qs), kv), finite);
  return f32x4.mul(scored, sc);
}

/** Pairs of positions whose integer weighted sum one int32 lane holds (attendSegmentI8). */
const PAIRS_PER_FLUSH: i32 = 256;

/**
 * o[0..d) += (sum over `rows` pairs r of the codes at vc (pair layout) times the packed weights at
 * wj + 4r) * back, for `count` (1 to 3) heads of a kv group (outputs at oh0 + k ohStride, weights at
 * wj + k wStride, back0..2): each 16 bytes (8 elements of two positions) loaded widened once for all.
 */
@inline function weightedValuesHeads(count: i32, oh0: usize, ohStride: usize, wj: usize, wStride: usize, vc: usize, rows: i32, d: i32, back0: v128, back1: v128, back2: v128): void {
  for (let e = 0; e < d; e += 8) {
    let a0 = i32x4.splat(0);
    let b0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let b1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let b2 = i32x4.splat(0);
    let vp = vc + (<usize>e << 1);
    for (let r = 0; r < rows; r++, vp += <usize>d << 1) {
      const lo = v128.load8x8_s(vp);
      const hi = v128.load8x8_s(vp, 8);
      const o = <usize>r << 2;
      const w0 = v128.load32_splat(wj + o);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(lo, w0));
      b0 = i32x4.add(b0, i32x4.dot_i16x8_s(hi, w0));
      if (count > 1) {
        const w1 = v128.load32_splat(wj + wStride + o);
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(lo, w1));
        b1 = i32x4.add(b1, i32x4.dot_i16x8_s(hi, w1));
      }
      if (count > 2) {
        const w2 = v128.load32_splat(wj + (wStride << 1) + o);
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(lo, w2));
        b2 = i32x4.add(b2, i32x4.dot_i16x8_s(hi, w2));
      }
    }
    const ob = <usize>e << 2;
    addScaled(oh0 + ob, a0, back0);
    addScaled(oh0 + ob + 16, b0, back0);
    if (count > 1) {
      addScaled(oh0 + ohStride + ob, a1, back1);
      addScaled(oh0 + ohStride + ob + 16, b1, back1);
    }
    if (count > 2) {
      addScaled(oh0 + (ohStride << 1) + ob, a2, back2);
      addScaled(oh0 + (ohStride << 1) + ob + 16, b2, back2);
    }
  }
}

/** out[0..4) += float(acc) * back. */
@inline function addScaled(out: usize, acc: v128, back: v128): void {
  v128.store(out, f32x4.add(v128.load(out), f32x4.mul(f32x4.convert_i32x4_s(acc), back)));
}

/**
 * A query head's d floats at x -> int16 codes at out (round(x * 32767 / m), m the largest |x|);
 * returns the scale m / 32767 (NaN for a NaN or infinite element, 0 for zeros or a too-small m).
 */
@inline function quantizeQuery(out: usize, x: usize, d: i32): f32 {
  let mv = f32x4.splat(0);
  for (let e = 0; e < d; e += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(x + (<usize>e << 2))));
  const m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  const inv = blockInverse(m, INT16_LEVELS);
  const iv = f32x4.splat(inv);
  for (let e = 0; e < d; e += 8) {
    const o = <usize>e << 2;
    v128.store(out + (<usize>e << 1), i16x8.narrow_i32x4_s(quantize4(v128.load(x + o), iv), quantize4(v128.load(x + o, 16), iv)));
  }
  // A NaN or infinite element: blockInverse gave 0 (codes 0); the scale m / 32767 stays NaN/Infinity.
  return m == m && m < Infinity ? blockScale(m, inv, INT16_LEVELS) : NaN;
}

/**
 * The chunk's `len` weights at w (exp(score - m), in [0, 1]) times their positions' value scales (at
 * vs), as int16 codes of their largest, packed two positions to an int32 ((code of 2r) | (code of 2r
 * + 1) << 16, the odd count's last pair with 0) at w + 4r in place; returns that largest (NaN when a
 * weight or scale is NaN, and every code 0 then, so the output turns NaN as in float32).
 */
@inline function packWeights(w: usize, vs: usize, len: i32): f32 {
  // The products and their largest, four at a time (f32x4.max keeps a NaN, as the scalar max does).
  const len4 = len & ~3;
  let tv = f32x4.splat(0);
  let nan = i32x4.splat(0);
  for (let i = 0; i < len4; i += 4) {
    const o = <usize>i << 2;
    const a = f32x4.mul(v128.load(w + o), v128.load(vs + o));
    tv = f32x4.pmax(tv, a);
    nan = v128.or(nan, f32x4.ne(a, a));
    v128.store(w + o, a);
  }
  tv = v128.or(tv, nan);
  let top: f32 = max(max(f32x4.extract_lane(tv, 0), f32x4.extract_lane(tv, 1)), max(f32x4.extract_lane(tv, 2), f32x4.extract_lane(tv, 3)));
  for (let i = len4; i < len; i++) {
    const a = load<f32>(w + (<usize>i << 2)) * load<f32>(vs + (<usize>i << 2));
    top = max(top, a);
    store<f32>(w + (<usize>i << 2), a);
  }
  const inv = blockInverse(top, INT16_LEVELS);
  const iv = f32x4.splat(inv);
  const magic = lane2(expConstants(0));
  const len8 = len & ~7;
  let i = 0;
  // Eight weights read, then four pairs written over the first four: the writes stay behind the reads.
  // inv > 0: every product is finite, in [0, top], so its code is in [0, 32767].
  for (; inv > 0 && i < len8; i += 8) {
    const o = <usize>i << 2;
    const packed = i16x8.narrow_i32x4_s(quantizeInRange4(v128.load(w + o), iv, magic), quantizeInRange4(v128.load(w + o, 16), iv, magic));
    v128.store(w + (<usize>i << 1), packed);
  }
  for (; i < len; i += 2) {
    // inv is 0 for a NaN top, and NaN * 0 must not reach the conversion: such pairs are 0.
    const lo = inv > 0 ? <i32>nearest<f32>(load<f32>(w + (<usize>i << 2)) * inv) : 0;
    const hi = inv > 0 && i + 1 < len ? <i32>nearest<f32>(load<f32>(w + (<usize>(i + 1) << 2)) * inv) : 0;
    store<i32>(w + (<usize>i << 1), (lo & 0xffff) | (hi << 16));
  }
  // With every code 0 (top 0, NaN, or too small to invert) the chunk adds 0 (or NaN) times top / 32767.
  return top;
}

/**
 * Touches every line of one kv head's keys and values (`headBytes` each a chunk: an int8 cache's codes
 * and scales) in a unit's chunks, `chunkBytes` apart, over n positions: the scan's memory, read in one
 * burst before the unit's arithmetic. The misses of a burst overlap: about 24 GB/s on one thread of a
 * 2-core Zen 4 VM, against 10-11 GB/s for the scan's own misses. Measured there (bench/results/
 * wasm-cpu-speed.md): the int8 attention over 2000 positions 11 % less CPU time than with a touch of
 * only the next chunk as the scan went (itself no faster than no touch at all on that machine). In
 * the chunk the context ends in, only the lines of its first positions (an int8 chunk of 512
 * positions is 35 KB a head on a head of 64: touched whole, it made the 135M twin's step at 22
 * positions about 0.2 ms slower in Chromium, `bench/experiments/browser-depth-steps.ts --kv-chunks`).
 */
@inline function touchUnit(k: usize, v: usize, chunkBytes: usize, headBytes: usize, chunkPositions: i32, n: i32, sink: usize, int8: bool, d: i32): void {
  for (let p0 = 0, c: usize = 0; p0 < n; p0 += chunkPositions, c += chunkBytes) {
    const len = min(chunkPositions, n - p0);
    if (len == chunkPositions) {
      touch(k + c, headBytes, sink);
      touch(v + c, headBytes, sink);
    } else if (!int8) {
      // A chunk the context ends in: its first len positions only ([position][d] floats).
      touch(k + c, <usize>len * (<usize>d << 2), sink);
      touch(v + c, <usize>len * (<usize>d << 2), sink);
    } else {
      // Keys [d / 2][P'][2]: each row's first len pairs; values [position / 2][d][2]: the first pairs
      // of positions; each one's scales after its codes.
      const codes = codesBytesI8(chunkPositions, d);
      const keyRow = <usize>paddedPositions(chunkPositions) << 1;
      for (let e = 0; e < d >> 1; e++) touch(k + c + <usize>e * keyRow, <usize>len << 1, sink);
      touch(k + c + codes, <usize>len << 2, sink);
      touch(v + c, <usize>((len + 1) >> 1) * (<usize>d << 1), sink);
      touch(v + c + codes, <usize>len << 2, sink);
    }
  }
}

/** Loads one float per 64-byte line of [p, p + bytes) and stores their sum at sink: the misses overlap. */
@inline function touch(p: usize, bytes: usize, sink: usize): void {
  let acc = f32x4.splat(0);
  let i: usize = 0;
  for (; i + 256 <= bytes; i += 256) {
    acc = f32x4.add(acc, f32x4.add(f32x4.add(v128.load(p + i), v128.load(p + i, 64)), f32x4.add(v128.load(p + i, 128), v128.load(p + i, 192))));
  }
  // One byte a line past the last whole 256: a region need not end on a 16-byte boundary.
  let tail: u32 = 0;
  for (; i < bytes; i += 64) tail += load<u8>(p + i);
  store<f32>(sink, f32x4.extract_lane(acc, 0) + <f32>tail);
}

/** The d - d4 (1 to 3) trailing products of a query and keys k0, k0 + stride, .. k0 + 3 stride, summed per key. */
@inline function tail4(qh: usize, k0: usize, stride: usize, d4: i32, d: i32): v128 {
  let r = f32x4.splat(0);
  for (let e = d4; e < d; e++) {
    const o = <usize>e << 2;
    const qe = f32x4.splat(load<f32>(qh + o));
    const kv = f32x4.replace_lane(
      f32x4.replace_lane(
        f32x4.replace_lane(f32x4.splat(load<f32>(k0 + o)), 1, load<f32>(k0 + stride + o)),
        2,
        load<f32>(k0 + 2 * stride + o),
      ),
      3,
      load<f32>(k0 + 3 * stride + o),
    );
    r = f32x4.add(r, f32x4.mul(qe, kv));
  }
  return r;
}

/** First byte after the module's static data (Mathf.exp's tables): the engine allocates from here. */
export function heapBase(): usize {
  return __heap_base;
}
