/**
 * Values for the CPU engine's kernel tests: deterministic activations and weights, and the rounding
 * the kernels' quantisers use (f32x4.nearest: to nearest, ties to even).
 */

/** Deterministic values in [-scale, scale). */
export function random(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Rounds to the nearest integer, ties to even. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
