// AssemblyScript: helpers both kernel builds share (kernels.ts, SIMD128; relaxed.ts, relaxed SIMD),
// so the two compute the same arithmetic from one text. Compiled into each build, never an entry.

// ---- activation quantisation ----
// A block of 32 activations is stored as integer codes round(x * levels / m) with the float scale
// m / levels, m the block's largest |x|: levels 32767 (int16 codes) or 127 (int8 codes, what a
// MatMulNBits node with accuracy_level 4 allows, as ORT's CPU kernel does).

/** levels / m for a block's largest |x| m; 0 for an all-zero block, a NaN/infinite m, or an m so small that it overflows. */
@inline export function blockInverse(m: f32, levels: f32): f32 {
  const inv = levels / m;
  return m > 0 && inv < Infinity ? inv : 0;
}

/** The block's scale: m / levels, but 0 for a block too small to invert (its codes are all 0). */
@inline export function blockScale(m: f32, inv: f32, levels: f32): f32 {
  return inv === 0 && m > 0 && m < Infinity ? 0 : m / levels;
}

/** Four values' codes: round to nearest even of v * inv, as int32 lanes. */
@inline export function quantize4(v: v128, inv: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, inv)));
}

/** The largest |x| of a block's 32 floats v0..v7. */
@inline export function blockMax(v0: v128, v1: v128, v2: v128, v3: v128, v4: v128, v5: v128, v6: v128, v7: v128): f32 {
  const m4 = f32x4.max(
    f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
    f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
  );
  return max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
}

/** The largest |x| of a partial block's `len` floats at x (scalar). */
@inline export function partialMax(x: usize, len: i32): f32 {
  let m: f32 = 0;
  for (let i = 0; i < len; i++) m = max(m, abs<f32>(load<f32>(x + (<usize>i << 2))));
  return m;
}

/** Float sum of v's lanes, (x0 + x1) + (x2 + x3). */
@inline export function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

// ---- the quantised GEMMs' lanes ----

/** Lane j: the (exact) sum of the four lanes of dj. */
@inline export function laneSums(d0: v128, d1: v128, d2: v128, d3: v128): v128 {
  const a = i32x4.add(i32x4.shuffle(d0, d1, 0, 4, 1, 5), i32x4.shuffle(d0, d1, 2, 6, 3, 7));
  const c = i32x4.add(i32x4.shuffle(d2, d3, 0, 4, 1, 5), i32x4.shuffle(d2, d3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(a, c, 0, 1, 4, 5), i32x4.shuffle(a, c, 2, 3, 6, 7));
}

/** The sum of d's four int32 lanes. */
@inline export function isum(d: v128): i32 {
  const h = i32x4.add(d, i32x4.shuffle(d, d, 2, 3, 0, 1));
  return i32x4.extract_lane(h, 0) + i32x4.extract_lane(h, 1);
}

/** s + p0 + p1 + p2 + p3 in that order (p: four blocks' products). */
@inline export function addLanes(s: f32, p: v128): f32 {
  return s + f32x4.extract_lane(p, 0) + f32x4.extract_lane(p, 1) + f32x4.extract_lane(p, 2) + f32x4.extract_lane(p, 3);
}

/**
 * Keeps a tile's token apart from the next: stores lane 0 of its dot product at `at` (one of the
 * tile's or the token's outputs, overwritten once the sums are complete). Without a memory effect
 * between the tile's tokens, V8's TurboFan hoists all of a block's activation loads ahead of the
 * arithmetic and spills registers; the store keeps each token's loads next to its arithmetic.
 */
@inline export function fence(d: v128, at: usize): v128 {
  store<i32>(at, i32x4.extract_lane(d, 0));
  return d;
}

/** Stores the four lanes of v (four tokens' outputs of one row) `stride` bytes apart. */
@inline export function storeLanes(at: usize, stride: usize, v: v128): void {
  store<f32>(at, f32x4.extract_lane(v, 0));
  store<f32>(at + stride, f32x4.extract_lane(v, 1));
  store<f32>(at + 2 * stride, f32x4.extract_lane(v, 2));
  store<f32>(at + 3 * stride, f32x4.extract_lane(v, 3));
}
