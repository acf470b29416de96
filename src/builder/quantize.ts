/**
 * Weight quantisation: the exact byte layouts the ONNX graph stores, and round trips back to float32
 * so a reference forward pass can run on precisely the weights a quantised model computes with.
 *
 * Linear weights arrive in PyTorch layout, `w[out][in]` (y = x W^T), as `rows = out`, `cols = in`.
 *
 * - q4: com.microsoft MatMulNBits, 4 bits, blocks of 32 along `in`, symmetric (no zero points, so
 *   the kernel's default zero point 8 applies). Per block the value of largest magnitude `m` sets
 *   `scale = m / -8` (MLAS's choice: the extreme lands exactly on code 0), code = clamp(round(v /
 *   scale) + 8, 0, 15), two codes per byte, low nibble first. A block past the end of a row is padded
 *   with zeros.
 * - q8 (the weight side of DynamicQuantizeLinear + MatMulInteger): uint8 per output channel,
 *   symmetric around zero point 128, `scale = max|w| / 127`, stored transposed as `[in, out]` (the
 *   MatMulInteger B operand). uint8 rather than int8 because x86 u8s8 kernels without VNNI can
 *   saturate int16 pair sums. The activation side is quantised at run time, which `q8RoundTrip` cannot
 *   model: it covers the weights only.
 *
 * The q8 weight layout is one function (`quantizeQ8`) and one graph lowering (graph/linear.ts), so a
 * later weight-only 8-bit form replaces both together.
 */

export const Q4_BLOCK = 32;
export const Q8_ZERO_POINT = 128;

export interface Q4Weight {
  /** [rows, blocksPerRow, 16] codes. */
  packed: Uint8Array;
  /** [rows, blocksPerRow] scales. */
  scales: Float32Array;
  blocksPerRow: number;
}

export function q4BlocksPerRow(cols: number): number {
  return Math.ceil(cols / Q4_BLOCK);
}

/** Rounds half away from zero, like C's roundf (MLAS), so codes match the kernel's own quantiser. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

export function quantizeQ4(w: Float32Array, rows: number, cols: number): Q4Weight {
  checkSize(w, rows, cols);
  const blocksPerRow = q4BlocksPerRow(cols);
  const blob = Q4_BLOCK / 2;
  const packed = new Uint8Array(rows * blocksPerRow * blob);
  const scales = new Float32Array(rows * blocksPerRow);
  const codes = new Uint8Array(Q4_BLOCK);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const start = r * cols + b * Q4_BLOCK;
      const len = Math.min(Q4_BLOCK, cols - b * Q4_BLOCK);
      let extreme = 0;
      for (let i = 0; i < len; i++) {
        const v = w[start + i]!;
        if (Math.abs(v) > Math.abs(extreme)) extreme = v;
      }
      const scale = Math.fround(extreme / -8);
      const inv = scale === 0 ? 0 : 1 / scale;
      codes.fill(8);
      for (let i = 0; i < len; i++) {
        codes[i] = Math.min(15, Math.max(0, roundAway(w[start + i]! * inv) + 8));
      }
      scales[r * blocksPerRow + b] = scale;
      const out = (r * blocksPerRow + b) * blob;
      for (let i = 0; i < blob; i++) packed[out + i] = codes[2 * i]! | (codes[2 * i + 1]! << 4);
    }
  }
  return { packed, scales, blocksPerRow };
}

export function dequantizeQ4(q: Q4Weight, rows: number, cols: number, scales = q.scales): Float32Array {
  const out = new Float32Array(rows * cols);
  const blob = Q4_BLOCK / 2;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / Q4_BLOCK);
      const i = c % Q4_BLOCK;
      const byte = q.packed[(r * q.blocksPerRow + b) * blob + (i >> 1)]!;
      const code = i & 1 ? byte >> 4 : byte & 0xf;
      out[r * cols + c] = (code - 8) * scales[r * q.blocksPerRow + b]!;
    }
  }
  return out;
}

/** A [rows=out, cols=in] Linear weight as MatMulNBits stores it in q4, back in float32. */
export function q4RoundTrip(w: Float32Array, rows: number, cols: number): Float32Array {
  return dequantizeQ4(quantizeQ4(w, rows, cols), rows, cols);
}

export interface Q8Weight {
  /** [cols, rows] uint8 codes (transposed: MatMulInteger's B is [in, out]). */
  codes: Uint8Array;
  /** [rows] per-output-channel scales. */
  scales: Float32Array;
}

export function quantizeQ8(w: Float32Array, rows: number, cols: number): Q8Weight {
  checkSize(w, rows, cols);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(w[r * cols + c]!));
    const scale = Math.fround(max / 127);
    const inv = scale === 0 ? 0 : 1 / scale;
    scales[r] = scale;
    for (let c = 0; c < cols; c++) {
      const q = Math.min(127, Math.max(-127, roundAway(w[r * cols + c]! * inv)));
      codes[c * rows + r] = q + Q8_ZERO_POINT;
    }
  }
  return { codes, scales };
}

export function dequantizeQ8(q: Q8Weight, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const s = q.scales[r]!;
    for (let c = 0; c < cols; c++) out[r * cols + c] = (q.codes[c * rows + r]! - Q8_ZERO_POINT) * s;
  }
  return out;
}

/** A [rows=out, cols=in] Linear weight as the q8 graph stores it, back in float32 (weights only). */
export function q8RoundTrip(w: Float32Array, rows: number, cols: number): Float32Array {
  return dequantizeQ8(quantizeQ8(w, rows, cols), rows, cols);
}

/** Row-major [rows, cols] to [cols, rows]. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  checkSize(w, rows, cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[base + c]!;
  }
  return out;
}

function checkSize(w: Float32Array, rows: number, cols: number): void {
  if (w.length !== rows * cols) {
    throw new RangeError(`weight has ${w.length} values, expected ${rows} x ${cols}`);
  }
}
