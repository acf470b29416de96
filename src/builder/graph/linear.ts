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
  read(): Promise<Float32Array>;
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

export function floatBytes(values: Float32Array, elem: ElemType): Uint8Array {
  return elem === ElemType.FLOAT16 ? bytesOf(f32ToF16(values)) : bytesOf(values);
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
        lazy(bytes, async () => floatBytes(transpose(await w.read(), w.rows, w.cols), elem)),
      );
      return g.op('MatMul', [x, weight]);
    },
  };
}

export interface Q8Tensors {
  /** [in, out] uint8. */
  codes: string;
  /** [out] float32. */
  scales: string;
  /** [out] uint8, all 128. */
  zeroPoints: string;
}

/**
 * Output columns per MatMulInteger. onnxruntime-web's WASM q8 kernel spends about twice as long per
 * multiply-add on a very wide weight (an output head: 49152-151936 columns) as on a narrow one, so a
 * wider weight runs as column slices of at most this many columns, one MatMulInteger each, joined by
 * a Concat. The slices are Slice nodes on the one stored initializer, which ORT constant-folds when
 * it loads the model: the file, the download and the integers computed stay the same (bit-identical
 * logits), and a decode step of the SmolLM2-135M twin takes ~15-20% less time on WASM
 * (bench/results/wasm-cpu-speed.md).
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
    const q = shared(async () => quantizeQ8(await w.read(), w.rows, w.cols), 2);
    const t: Q8Tensors = {
      codes: g.initializer(
        `${w.key}.weight_q8`,
        ElemType.UINT8,
        [w.cols, w.rows],
        lazy(w.rows * w.cols, async () => (await q()).codes),
      ),
      scales: g.initializer(
        `${w.key}.weight_scale`,
        ElemType.FLOAT,
        [w.rows],
        lazy(w.rows * 4, async () => bytesOf((await q()).scales)),
      ),
      zeroPoints: g.initializer(
        `${w.key}.weight_zero_point`,
        ElemType.UINT8,
        [w.rows],
        lazy(w.rows, async () => new Uint8Array(w.rows).fill(Q8_ZERO_POINT)),
      ),
    };
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
    const rescaled = (codes: string, scales: string, zeroPoints: string) => {
      const acc = g.op('MatMulInteger', [xq, codes, xZero, zeroPoints]);
      return g.op('Mul', [g.op('Cast', [acc], { to: ElemType.FLOAT }), g.op('Mul', [xScale, scales])]);
    };
    const slices = columnSlices(w.rows, this.maxColumns);
    if (slices.length === 1) return rescaled(t.codes, t.scales, t.zeroPoints);
    const parts = slices.map(([start, end]) => {
      const range = (axis: number) => [g.i64([start]), g.i64([end]), g.i64([axis])];
      return rescaled(
        g.op('Slice', [t.codes, ...range(1)]),
        g.op('Slice', [t.scales, ...range(0)]),
        g.op('Slice', [t.zeroPoints, ...range(0)]),
      );
    });
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
        lazy(w.rows * blocks * scaleBytes, async () => floatBytes((await q()).scales, elem)),
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
