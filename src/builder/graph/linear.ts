/**
 * How each dtype lowers a Linear layer `y = x W^T` (W in PyTorch [out, in] layout) to ONNX nodes and
 * initializers. One lowering per weight format; the decoder graph only calls `emit`.
 *
 * - float: MatMul with W^T stored as float32 or float16.
 * - q8: DynamicQuantizeLinear on the activations + MatMulInteger on uint8 weights + rescale: the
 *   onnx-community `model_quantized.onnx` form, which ORT fuses into DynamicQuantizeMatMul on CPU.
 *   Weights wider than Q8_MAX_COLUMNS output columns run as several column slices (see there).
 * - q4: com.microsoft MatMulNBits (4 bits, block 32, accuracy_level 4), activations float32 or float16.
 *
 * Weight bytes are produced lazily (when the writer reaches them) and each source tensor is read and
 * quantised once even when it yields several initializers.
 */
import { EdgetierError } from '../../core/errors.ts';
import { f32ToF16 } from '../half.ts';
import { ElemType } from '../onnx/model.ts';
import type { LazyBytes } from '../onnx/proto.ts';
import { Q4_BLOCK, Q8_ZERO_POINT, q4BlocksPerRow, quantizeQ4, quantizeQ8, transpose } from '../quantize.ts';
import { bytesOf, type GraphBuilder } from './builder.ts';

/** A Linear weight read on demand, `rows = out`, `cols = in`. */
export interface LinearWeight {
  /** Base name for the initializers (the HF module path, e.g. `model.layers.0.mlp.down_proj`). */
  key: string;
  rows: number;
  cols: number;
  /** The checkpoint tensors it is made of, for messages (when not just `${key}.weight`). */
  sources?: string[];
  read(): Promise<Float32Array>;
}

/** How a message names a weight: its checkpoint tensor(s). */
export function weightLabel(w: LinearWeight): string {
  return w.sources?.join(' or ') ?? `${w.key}.weight`;
}

export interface LinearLowering {
  emit(g: GraphBuilder, x: string, w: LinearWeight): string;
}

/**
 * Computes a value once for several lazy initializers and forgets it after the last one took its
 * part, so memory holds one source tensor at a time.
 */
export function shared<V>(compute: () => Promise<V>, consumers: number): () => Promise<V> {
  let pending: Promise<V> | null = null;
  let left = consumers;
  return () => {
    pending ??= compute();
    const result = pending;
    if (--left === 0) pending = null;
    return result;
  };
}

export function lazy(byteLength: number, produce: () => Promise<Uint8Array>): LazyBytes {
  return { byteLength, produce };
}

/** Largest finite float16. */
const F16_MAX = 65504;

/**
 * A weight's bytes as float32 or float16. A finite value float16 cannot hold would become infinite
 * and the model would emit garbage, so that build is refused, naming the weight (`name`).
 */
export function floatBytes(values: Float32Array, elem: ElemType, name: string): Uint8Array {
  if (elem !== ElemType.FLOAT16) return bytesOf(values);
  const half = f32ToF16(values);
  for (let i = 0; i < half.length; i++) {
    if ((half[i]! & 0x7fff) === 0x7c00 && Number.isFinite(values[i]!)) {
      throw new EdgetierError(
        'unsupported_dtype',
        `cannot build a float16 model (fp16, q4f16): ${name} holds ${values[i]}, beyond float16's range (±${F16_MAX}). Build fp32, q8 or q4 instead.`,
      );
    }
  }
  return bytesOf(half);
}

/** MatMul against W^T stored in `elem` (float32 or float16). */
export function floatLinear(elem: ElemType): LinearLowering {
  return {
    emit(g, x, w) {
      const bytes = w.rows * w.cols * (elem === ElemType.FLOAT16 ? 2 : 4);
      const weight = g.initializer(
        `${w.key}.weight_T`,
        elem,
        [w.cols, w.rows],
        lazy(bytes, async () => floatBytes(transpose(await w.read(), w.rows, w.cols), elem, weightLabel(w))),
      );
      return g.op('MatMul', [x, weight]);
    },
  };
}

/** One column slice of a q8 weight: output columns [start, end). */
export interface Q8Slice {
  /** [in, end - start] uint8 codes. */
  codes: string;
  /** [end - start] float32. */
  scales: string;
  /** [end - start] uint8, all 128. */
  zeroPoints: string;
}

export interface Q8Tensors {
  /** The weight's column slices, in order (one unless it is wider than the column limit). */
  slices: Q8Slice[];
}

/** Columns [start, end) of a row-major [rows, columns] uint8 matrix. */
export function sliceColumns(
  matrix: Uint8Array,
  rows: number,
  columns: number,
  start: number,
  end: number,
): Uint8Array {
  if (start === 0 && end === columns) return matrix;
  const width = end - start;
  const out = new Uint8Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(matrix.subarray(r * columns + start, r * columns + end), r * width);
  return out;
}

/**
 * Output columns per MatMulInteger. onnxruntime-web's WASM q8 kernel spends about twice as long per
 * multiply-add on a very wide weight (an output head: 49152-151936 columns) as on a narrow one, so a
 * wider weight is stored and run as column slices of at most this many columns, one MatMulInteger
 * each, joined by a Concat. Same bytes in the file, same integers computed (bit-identical logits);
 * a decode step of the SmolLM2-135M twin takes ~17% less time on WASM, the Qwen2.5-0.5B twin's 0-15%
 * (bench/results/wasm-cpu-speed.md, table H).
 */
export const Q8_MAX_COLUMNS = 3072;

/** [start, end) column ranges of at most `max` columns covering `columns`. */
export function columnSlices(columns: number, max: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < columns; start += max) out.push([start, Math.min(columns, start + max)]);
  return out;
}

/** Dynamic activation quantisation with uint8 per-channel weights; see quantize.ts for the layout. */
export class Q8DynamicLinear implements LinearLowering {
  private readonly cache = new Map<string, Q8Tensors>();
  private readonly quantizedInputs = new Map<string, [string, string, string]>();

  /** `maxColumns`: Q8_MAX_COLUMNS, or Infinity for one MatMulInteger per weight. */
  constructor(private readonly maxColumns: number = Q8_MAX_COLUMNS) {}

  /** The weight's initializers, created once per key (a tied embedding shares them). */
  tensors(g: GraphBuilder, w: LinearWeight): Q8Tensors {
    const cached = this.cache.get(w.key);
    if (cached) return cached;
    const ranges = columnSlices(w.rows, this.maxColumns);
    // Codes and scales of every slice come from one quantisation of the whole weight.
    const q = shared(async () => quantizeQ8(await w.read(), w.rows, w.cols), 2 * ranges.length);
    const slices = ranges.map(([start, end], i): Q8Slice => {
      const n = end - start;
      const suffix = ranges.length === 1 ? '' : `.slice${i}`;
      return {
        codes: g.initializer(
          `${w.key}.weight_q8${suffix}`,
          ElemType.UINT8,
          [w.cols, n],
          lazy(w.cols * n, async () => sliceColumns((await q()).codes, w.cols, w.rows, start, end)),
        ),
        scales: g.initializer(
          `${w.key}.weight_scale${suffix}`,
          ElemType.FLOAT,
          [n],
          lazy(n * 4, async () => bytesOf((await q()).scales.slice(start, end))),
        ),
        zeroPoints: g.initializer(
          `${w.key}.weight_zero_point${suffix}`,
          ElemType.UINT8,
          [n],
          lazy(n, async () => new Uint8Array(n).fill(Q8_ZERO_POINT)),
        ),
      };
    });
    const t: Q8Tensors = { slices };
    this.cache.set(w.key, t);
    return t;
  }

  emit(g: GraphBuilder, x: string, w: LinearWeight): string {
    const t = this.tensors(g, w);
    let quantized = this.quantizedInputs.get(x);
    if (!quantized) {
      quantized = g.node('DynamicQuantizeLinear', [x], {}, { outputs: 3 }) as [string, string, string];
      this.quantizedInputs.set(x, quantized);
    }
    const [xq, xScale, xZero] = quantized;
    const parts = t.slices.map(({ codes, scales, zeroPoints }) => {
      const acc = g.op('MatMulInteger', [xq, codes, xZero, zeroPoints]);
      return g.op('Mul', [g.op('Cast', [acc], { to: ElemType.FLOAT }), g.op('Mul', [xScale, scales])]);
    });
    if (parts.length === 1) return parts[0]!;
    return g.op('Concat', parts, { axis: -1 });
  }
}

/**
 * MatMulNBits with 4-bit symmetric blocks; `elem` is the activation (and scale) type.
 * accuracy_level 4 lets ORT's CPU kernel quantise activations to int8 per block (fast, about 2% off a
 * float computation on the same weights); 0 computes in float, matching `q4RoundTrip` exactly.
 */
export function q4Linear(elem: ElemType, accuracyLevel = 4): LinearLowering {
  return {
    emit(g, x, w) {
      const blocks = q4BlocksPerRow(w.cols);
      const q = shared(async () => quantizeQ4(await w.read(), w.rows, w.cols), 2);
      const scaleBytes = elem === ElemType.FLOAT16 ? 2 : 4;
      const packed = g.initializer(
        `${w.key}.weight_q4`,
        ElemType.UINT8,
        [w.rows, blocks, Q4_BLOCK / 2],
        lazy(w.rows * blocks * (Q4_BLOCK / 2), async () => (await q()).packed),
      );
      const scales = g.initializer(
        `${w.key}.weight_scales`,
        elem,
        [w.rows, blocks],
        lazy(w.rows * blocks * scaleBytes, async () =>
          floatBytes((await q()).scales, elem, `the q4 scales of ${weightLabel(w)}`),
        ),
      );
      return g.op(
        'MatMulNBits',
        [x, packed, scales],
        { K: w.cols, N: w.rows, bits: 4, block_size: Q4_BLOCK, accuracy_level: accuracyLevel },
        'com.microsoft',
      );
    },
  };
}
