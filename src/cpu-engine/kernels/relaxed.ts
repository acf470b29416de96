// AssemblyScript: the entry of the relaxed-SIMD builds (../build-kernels.ts): every kernel of
// kernels.ts, plus a 4-bit GEMM over int8 activations whose products are relaxed SIMD's
// i16x8.relaxed_dot_i8x16_i7x16_s (16 multiply-adds an instruction; SIMD128's int16 dot does 8,
// after unpacking the codes to int16). Used where the browser computes relaxed SIMD right
// (wasm-features.ts) and the file's MatMulNBits nodes say accuracy_level 4 (int8 activations, as
// ORT's CPU kernel computes them). Faster than gemmQ4 in Chromium 156 here: 1.18x for a decode
// step's GEMMs, 1.29x for a prefill chunk's (bench/experiments/cpu-relaxed-gemm.ts).
//
// Bit for bit the same outputs as kernels.ts's gemmQ4 over quantizeActivationsTiled(..., 127): the
// same int8 codes and scales, every block's products summed exactly in int32, and the same float
// operations in the same order. The 4-bit codes c (0..15, value c - 8) are the i7 operand (so the
// instruction's result is defined on every engine), the activations the signed one; the sum of
// (c - 8) x is sum(c x) - 8 sum(x), and each block's -8 sum(x) is stored beside its codes.
//
// The int8 layout (quantizeActivationsI8Tiled): a token's row is `blocks` blocks of 32 code bytes,
// the even-indexed values first (x0 x2 .. x30, the low nibbles' partners), then the odd ones, then
// `blocks` int32 corrections; a row is 36 x blocks bytes. Tokens in whole tiles of four (t <
// tokens & ~3) share four rows' space, per block the four tokens' 32 bytes side by side and then
// their four corrections (144 bytes a block), as the int16 layout does. Scales as in kernels.ts.

export * from './kernels';
import { addLanes, blockInverse, blockMax, blockScale, fence, isum, laneSums, partialMax, quantize4, storeLanes } from './shared';

const BLOCK: i32 = 32;
const INT8_LEVELS: f32 = 127;

/** Bytes of one token's row in the int8 layout, for `blocks` blocks. */
@inline function i8RowBytes(blocks: i32): usize {
  return <usize>blocks * 36;
}

/**
 * quantizeActivationsTiled(xq, xs, x, n, tokens, 127) in the int8 layout above (same codes, same
 * scales, same xs layout); xq needs 36 x blocks bytes a token.
 */
export function quantizeActivationsI8Tiled(xq: usize, xs: usize, x: usize, n: i32, tokens: i32): void {
  const blocks = (n + BLOCK - 1) / BLOCK;
  const xqRow = i8RowBytes(blocks);
  const xsRow = <usize>blocks << 2;
  const xRow = <usize>n << 2;
  const tiled = tokens & ~3;
  for (let t = 0; t < tokens; t++) {
    const inTile = t < tiled;
    const lane = <usize>(t & 3);
    const base = inTile ? <usize>(t & ~3) : <usize>t;
    const row = xq + base * xqRow;
    quantizeRowI8(
      inTile ? row + (lane << 5) : row,
      inTile ? row + 128 + (lane << 2) : row + (<usize>blocks << 5),
      xs + base * xsRow + (inTile ? lane << 2 : 0),
      x + <usize>t * xRow,
      n,
      inTile ? 144 : 32,
      inTile ? 144 : 4,
      inTile ? 16 : 4,
    );
  }
}

/** One token: block b's codes at codes + b * qStride, its correction at corr + b * cStride, its scale at xs + b * sStride. */
function quantizeRowI8(
  codes: usize,
  corr: usize,
  xs: usize,
  x: usize,
  n: i32,
  qStride: usize,
  cStride: usize,
  sStride: usize,
): void {
  const full = n / BLOCK;
  for (let b = 0; b < full; b++) {
    const xb = x + (<usize>b << 7);
    const v0 = v128.load(xb);
    const v1 = v128.load(xb, 16);
    const v2 = v128.load(xb, 32);
    const v3 = v128.load(xb, 48);
    const v4 = v128.load(xb, 64);
    const v5 = v128.load(xb, 80);
    const v6 = v128.load(xb, 96);
    const v7 = v128.load(xb, 112);
    const m = blockMax(v0, v1, v2, v3, v4, v5, v6, v7);
    const invm = blockInverse(m, INT8_LEVELS);
    store<f32>(xs + <usize>b * sStride, blockScale(m, invm, INT8_LEVELS));
    const inv = f32x4.splat(invm);
    // |codes| <= 127: the saturating narrows never saturate.
    const lo = i8x16.narrow_i16x8_s(
      i16x8.narrow_i32x4_s(quantize4(v0, inv), quantize4(v1, inv)),
      i16x8.narrow_i32x4_s(quantize4(v2, inv), quantize4(v3, inv)),
    );
    const hi = i8x16.narrow_i16x8_s(
      i16x8.narrow_i32x4_s(quantize4(v4, inv), quantize4(v5, inv)),
      i16x8.narrow_i32x4_s(quantize4(v6, inv), quantize4(v7, inv)),
    );
    const even = i8x16.shuffle(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const odd = i8x16.shuffle(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const out = codes + <usize>b * qStride;
    v128.store(out, even);
    v128.store(out, odd, 16);
    const pairs = i16x8.add(i16x8.extadd_pairwise_i8x16_s(even), i16x8.extadd_pairwise_i8x16_s(odd));
    store<i32>(corr + <usize>b * cStride, -8 * isum(i32x4.extadd_pairwise_i16x8_s(pairs)));
  }
  const blocks = (n + BLOCK - 1) / BLOCK;
  for (let b = full; b < blocks; b++) {
    const start = b * BLOCK;
    const len = min(BLOCK, n - start);
    const m = partialMax(x + (<usize>start << 2), len);
    const inv = blockInverse(m, INT8_LEVELS);
    store<f32>(xs + <usize>b * sStride, blockScale(m, inv, INT8_LEVELS));
    const out = codes + <usize>b * qStride;
    let sum = 0;
    for (let j = 0; j < BLOCK; j++) {
      // Byte j holds x[2j] (j < 16) or x[2(j - 16) + 1]; past the row's end, 0.
      const src = j < 16 ? 2 * j : 2 * (j - 16) + 1;
      let v: f32 = 0;
      if (src < len) v = load<f32>(x + (<usize>(start + src) << 2)) * inv;
      const code = <i32>nearest<f32>(v);
      store<i8>(out + <usize>j, <i8>code);
      sum += code;
    }
    store<i32>(corr + <usize>b * cStride, -8 * sum);
  }
}

/**
 * 0x0f in every byte, in memory: loaded into a register once per row (nibbleMask) rather than written
 * as i8x16.splat(0x0f) in the loop, because Chromium 150's V8 builds a v128 constant anew at each use
 * in a loop, and lowers i8x16.shr_u (x64 has no byte shift) to a word shift and a mask it builds the
 * same way. With the mask in a register, a decode step's 4-bit GEMVs took 18 % less time in Chromium
 * and 5 % less in Node, bit for bit the same (bench/experiments/browser-kernel-time.ts --kernel gemv,
 * bench/results/wasm-cpu-speed.md).
 */
const NIBBLE_MASK = memory.data<u8>([15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15]);

@inline function nibbleMask(): v128 {
  return v128.load(NIBBLE_MASK);
}

/**
 * A 4-bit block's 16 bytes as its low-nibble and high-nibble codes (0..15), byte i = values 2i, 2i + 1;
 * m: nibbleMask(). The high nibbles: a 16-bit shift by 4 brings each byte's high nibble down, and the
 * mask drops what the shift carried in from the byte above.
 */
@inline function lowCodes(p: v128, m: v128): v128 {
  return v128.and(p, m);
}
@inline function highCodes(p: v128, m: v128): v128 {
  return v128.and(i16x8.shr_u(p, 4), m);
}

/** Four int32 lanes summing to sum(c x) over a block: codes lo/hi, the token's 32 bytes at xp. */
@inline function dotI8(lo: v128, hi: v128, xp: usize): v128 {
  // Pairwise products in int16 (at most 2 x 127 x 15 a lane: no saturation), the two halves added in
  // int16 (at most 4 x 127 x 15), widened once: three multiply-unit instructions a block on x64
  // (pmaddubsw twice, pmaddwd once) where SIMD128's int16 dot takes four, and an i32 relaxed dot-add
  // for each half (a pmaddwd after each pmaddubsw) measured no faster than SIMD128.
  const p = i16x8.add(
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp), lo),
    i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp, 16), hi),
  );
  return i32x4.extadd_pairwise_i16x8_s(p);
}

/** gemmQ4 over quantizeActivationsI8Tiled's layout (the same arguments otherwise). */
export function gemmQ4I8(
  y: usize,
  w: usize,
  ws: usize,
  xq: usize,
  xs: usize,
  rows: i32,
  blocks: i32,
  tokens: i32,
): void {
  gemmQ4I8Rows(y, w, ws, xq, xs, rows, blocks, tokens, 0, rows);
}

/** gemmQ4I8 for output rows [r0, r1) only (as gemmQ4Rows). */
export function gemmQ4I8Rows(
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
  const xqRow = i8RowBytes(blocks);
  const yRow = <usize>rows << 2;
  const tiled = tokens & ~3;
  for (let r = r0; r < r1; r++) {
    const w0 = w + <usize>r * rowBytes;
    const s0 = ws + <usize>r * rowScales;
    let t = 0;
    for (; t + 8 <= tiled; t += 8) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      q4I8Tile(w0, s0, rowBytes, xq + <usize>t * xqRow, xs + <usize>t * rowScales, xqRow << 2, rowScales << 2, yt, yRow, true);
    }
    if (t < tiled) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      q4I8Tile(w0, s0, rowBytes, xq + <usize>t * xqRow, xs + <usize>t * rowScales, 0, 0, yt, yRow, false);
    }
    for (let t = tiled; t < tokens; t++) {
      const yt = y + <usize>t * yRow + (<usize>r << 2);
      store<f32>(yt, gemvQ4I8Row(w0, s0, xq + <usize>t * xqRow, xs + <usize>t * rowScales, blocks, yt));
    }
  }
}

/** One block of a tile: lane j is the int32 sum over the block of (c - 8) x for token j. */
@inline function tileBlockI8(lo: v128, hi: v128, xp: usize, at: usize): v128 {
  const d0 = fence(dotI8(lo, hi, xp), at);
  const d1 = fence(dotI8(lo, hi, xp + 32), at);
  const d2 = fence(dotI8(lo, hi, xp + 64), at);
  const d3 = fence(dotI8(lo, hi, xp + 96), at);
  return i32x4.add(laneSums(d0, d1, d2, d3), v128.load(xp, 128));
}

/** One row of gemmQ4I8 for a tile of four (or, `eight`, two groups of four) tokens (as q4Tile). */
@inline function q4I8Tile(
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
  const mask = nibbleMask();
  let wp = w0;
  let sp = s0;
  const end = w0 + rowBytes;
  while (wp < end) {
    const p = v128.load(wp);
    const lo = lowCodes(p, mask);
    const hi = highCodes(p, mask);
    const sw = f32x4.splat(load<f32>(sp));
    const sums = tileBlockI8(lo, hi, xp, yt);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sums), f32x4.mul(sw, v128.load(xsp))));
    if (eight) {
      const sums2 = tileBlockI8(lo, hi, xp + group, yt);
      acc2 = f32x4.add(acc2, f32x4.mul(f32x4.convert_i32x4_s(sums2), f32x4.mul(sw, v128.load(xsp + groupScales))));
    }
    wp += 16;
    sp += 4;
    xp += 144;
    xsp += 16;
  }
  storeLanes(yt, yRow, acc);
  if (eight) storeLanes(yt + (yRow << 2), yRow, acc2);
}

/** One row of gemmQ4I8 for one token (as gemvQ4Row): codes at xq, corrections after them. */
@inline function gemvQ4I8Row(w0: usize, s0: usize, xq: usize, xs: usize, blocks: i32, at: usize): f32 {
  const corr = xq + (<usize>blocks << 5);
  const mask = nibbleMask();
  let s: f32 = 0;
  let b = 0;
  for (; b + 3 < blocks; b += 4) {
    const wb = w0 + (<usize>b << 4);
    const xb = xq + (<usize>b << 5);
    const p0 = v128.load(wb);
    const p1 = v128.load(wb, 16);
    const p2 = v128.load(wb, 32);
    const p3 = v128.load(wb, 48);
    const d0 = fence(dotI8(lowCodes(p0, mask), highCodes(p0, mask), xb), at);
    const d1 = fence(dotI8(lowCodes(p1, mask), highCodes(p1, mask), xb + 32), at);
    const d2 = fence(dotI8(lowCodes(p2, mask), highCodes(p2, mask), xb + 64), at);
    const d3 = fence(dotI8(lowCodes(p3, mask), highCodes(p3, mask), xb + 96), at);
    const sums = i32x4.add(laneSums(d0, d1, d2, d3), v128.load(corr + (<usize>b << 2)));
    const scale = f32x4.mul(v128.load(s0 + (<usize>b << 2)), v128.load(xs + (<usize>b << 2)));
    s = addLanes(s, f32x4.mul(f32x4.convert_i32x4_s(sums), scale));
  }
  for (; b < blocks; b++) {
    const p = v128.load(w0 + (<usize>b << 4));
    const d = isum(dotI8(lowCodes(p, mask), highCodes(p, mask), xq + (<usize>b << 5))) + load<i32>(corr + (<usize>b << 2));
    s = s + <f32>d * (load<f32>(s0 + (<usize>b << 2)) * load<f32>(xs + (<usize>b << 2)));
  }
  return s;
}
