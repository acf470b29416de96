/**
 * The WebAssembly features the CPU engine's kernels builds need, probed by validating tiny modules
 * (realm-neutral: Node and the browser's engine worker).
 */

/** (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt): valid only where SIMD128 is. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98,
  11,
]);

/**
 * (func (export "f") (result i32) (local v128)): i16x8.relaxed_dot_i8x16_i7x16_s of
 * a = [-1 -2 -3 -4 -128 -128 -128 -128 0 ...] and b = [0 1 2 3 127 127 127 127 0 ...], widened by
 * i32x4.extadd_pairwise_i16x8_s, lane 0 minus lane 1: (-20) - (-65024) = 65004. It runs the
 * instruction the relaxed builds use (kernels/relaxed.ts), so an engine that validates relaxed SIMD
 * but computes it wrong is not trusted with it: Node 20's V8 behind --experimental-wasm-relaxed-simd
 * gets i32x4.relaxed_dot_i8x16_i7x16_add_s wrong (bench/experiments/cpu-relaxed-gemm.ts).
 */
export const RELAXED_SIMD_CHECK = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 58, 1, 56, 1, 1,
  123, 253, 12, 255, 254, 253, 252, 128, 128, 128, 128, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 1, 2, 3, 127, 127,
  127, 127, 0, 0, 0, 0, 0, 0, 0, 0, 253, 146, 2, 253, 126, 34, 0, 253, 27, 0, 32, 0, 253, 27, 1, 107, 11,
]);
export const RELAXED_SIMD_CHECK_RESULT = 65004;

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Whether this WebAssembly has SIMD128 (every kernels build needs it). */
export function hasWasmSimd(): boolean {
  return validates(SIMD_PROBE);
}

let relaxed: boolean | null = null;

/**
 * Whether this WebAssembly has relaxed SIMD and computes its int8 dot product right (the relaxed
 * builds, kernels/relaxed.ts); checked once (a tiny module, compiled synchronously).
 */
export function hasRelaxedSimd(): boolean {
  relaxed ??= (() => {
    if (!validates(RELAXED_SIMD_CHECK)) return false;
    try {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(RELAXED_SIMD_CHECK));
      return (instance.exports.f as () => number)() === RELAXED_SIMD_CHECK_RESULT;
    } catch {
      return false;
    }
  })();
  return relaxed;
}
