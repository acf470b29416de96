/**
 * The weight layouts the kernels read, made from the layouts the converter writes (see
 * src/builder/quantize.ts). Quantised activations and 8-bit rows store each block of 32 values
 * "nibble-major" (x0 x4 .. x28 x1 x5 .. x29 x2 .. x3 .. x31): the order in which a 4-bit block, read
 * as eight 16-bit lanes of four nibbles, unpacks with shifts alone (kernels/kernels.ts).
 */
import { Q8_ZERO_POINT } from '../builder/quantize.ts';

export const BLOCK = 32;

export function blocksOf(cols: number): number {
  return Math.ceil(cols / BLOCK);
}

/** Position in a permuted block of the value at index `i` (0..31) of the natural order. */
export function permutedIndex(i: number): number {
  return ((i & 3) << 3) | (i >> 2);
}

/**
 * Where quantizeActivationsTiled (kernels/kernels.ts) puts block b of token t, of `tokens` rows of
 * `blocks` blocks: the index of its scale in xs; its 32 int16 codes start at 32 x that index in xq.
 * The tokens of whole tiles of four (t < tokens & ~3) are interleaved per block, so a prefill tile reads
 * the four tokens' block from one place; the last tokens & 3 (all of a decode step) keep a row each.
 */
export function activationIndex(t: number, b: number, tokens: number, blocks: number): number {
  return t < (tokens & ~3) ? (t & ~3) * blocks + 4 * b + (t & 3) : t * blocks + b;
}

/**
 * One q8 weight as MatMulInteger's B operand (uint8 codes [cols, rows], zero point 128), possibly in
 * column slices, to int8 rows [rows, blocks * 32] in the permuted block order, zero-padded.
 * `slices` are [cols, n_i] code matrices with sum(n_i) = rows, in order.
 */
export function q8Rows(slices: readonly Uint8Array[], rows: number, cols: number, out: Int8Array): void {
  const width = blocksOf(cols) * BLOCK;
  if (out.length !== rows * width)
    throw new RangeError(`q8 rows: ${out.length} bytes, expected ${rows * width}`);
  out.fill(0);
  let row0 = 0;
  for (const codes of slices) {
    const n = codes.length / cols;
    // One block of 32 input columns at a time: 32 sequential read streams, 32-byte writes per row
    // (a plain column-by-column transpose of a 28 MB head is several times slower).
    for (let c0 = 0; c0 < cols; c0 += BLOCK) {
      const len = Math.min(BLOCK, cols - c0);
      for (let r = 0; r < n; r++) {
        const dst = (row0 + r) * width + c0;
        for (let j = 0; j < len; j++) out[dst + permutedIndex(j)] = codes[(c0 + j) * n + r]! - Q8_ZERO_POINT;
      }
    }
    row0 += n;
  }
  if (row0 !== rows) throw new RangeError(`q8 rows: slices hold ${row0} rows, expected ${rows}`);
}

/** Float32 `[cols, rows]` (W transposed, the MatMul operand) to row-major [rows, cols]. */
export function transposeInto(wT: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let c = 0; c < cols; c++) {
    const base = c * rows;
    for (let r = 0; r < rows; r++) out[r * cols + c] = wT[base + r]!;
  }
}
