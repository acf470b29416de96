/**
 * Writes one ONNX decoder per dtype in the onnx-community layout transformers.js loads
 * (`<outDir>/onnx/<DTYPE_FILE[dtype]>`), and the `transformers.js_config` that describes them.
 *
 * Per dtype (see graph/linear.ts and quantize.ts for the weight layouts):
 * | dtype | linear layers | embedding | output head | activations, KV cache, logits |
 * | fp32  | MatMul f32 | Gather f32 | MatMul f32 (tied: same [H,V] table) | f32 |
 * | fp16  | MatMul f16 | Gather f16 | MatMul f16 (tied: same table) | f16, norms/softmax in f32 |
 * | q8    | DynamicQuantizeLinear + MatMulInteger, uint8 per channel | uint8 rows, dequantised after Gather (tied: the head's own tensor) | as linear | f32 |
 * | q4    | MatMulNBits 4-bit, block 32 | uint8 rows as q8 | MatMulNBits | f32 |
 * | q4f16 | MatMulNBits, f16 scales | uint8 rows as q8 | MatMulNBits | f16 |
 * Every op is in ORT's CPU EP and WASM build; ops the WebGPU EP lacks (MatMulInteger,
 * DynamicQuantizeLinear) fall back to its CPU partition.
 * A model whose file would pass protobuf's 2 GiB limit is written with external data
 * (`model.onnx_data`, …), which `transformersJsConfig` announces as `use_external_data_format`.
 */
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DTYPE_FILE, type Dtype } from '../core/dtypes.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { buildDecoderModel, type DtypePlan } from './graph/decoder.ts';
import { floatLinear, Q8_MAX_COLUMNS, Q8DynamicLinear, q4Linear } from './graph/linear.ts';
import { ElemType } from './onnx/model.ts';
import {
  DEFAULT_EXTERNAL_DATA,
  type ExternalDataOptions,
  inlineModelBytes,
  PROTOBUF_LIMIT_BYTES,
  writeModel,
} from './onnx/writer.ts';
import type { WeightSource } from './weights.ts';

export interface OnnxWriteResult {
  /** Absolute or outDir-relative path of the .onnx file. */
  file: string;
  /** Size of the .onnx file plus its external data, in bytes. */
  bytes: number;
  /** The first external data file, when the model has one. */
  externalDataFile?: string;
  /** Number of external data files (`model.onnx_data`, `model.onnx_data_1`, …); 0 without. */
  externalDataChunks?: number;
}

export interface WriteOnnxOptions {
  /** 'auto' (default): external data only past protobuf's 2 GiB limit. */
  externalData?: 'auto' | 'always' | 'never';
  /** Tuning of the external data split (tests use small chunks). */
  externalDataLayout?: ExternalDataOptions;
  /**
   * MatMulNBits accuracy_level for q4/q4f16 (default 4, int8 activations on CPU). 0 computes in
   * float, so logits match a float forward pass on `q4RoundTrip` weights: for exactness tests only.
   */
  q4AccuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /** Output columns per q8 MatMulInteger (default Q8_MAX_COLUMNS; Infinity: never split). */
  q8MaxColumns?: number;
}

export function dtypePlan(
  dtype: Dtype,
  q4AccuracyLevel: number = 4,
  q8MaxColumns: number = Q8_MAX_COLUMNS,
): DtypePlan {
  switch (dtype) {
    case 'fp32':
      return {
        act: ElemType.FLOAT,
        linear: floatLinear(ElemType.FLOAT),
        lmHead: floatLinear(ElemType.FLOAT),
        embedding: 'float',
      };
    case 'fp16':
      return {
        act: ElemType.FLOAT16,
        linear: floatLinear(ElemType.FLOAT16),
        lmHead: floatLinear(ElemType.FLOAT16),
        embedding: 'float',
      };
    case 'q8': {
      const q8 = new Q8DynamicLinear(q8MaxColumns);
      return { act: ElemType.FLOAT, linear: q8, lmHead: q8, embedding: 'q8' };
    }
    case 'q4':
      return {
        act: ElemType.FLOAT,
        linear: q4Linear(ElemType.FLOAT, q4AccuracyLevel),
        lmHead: q4Linear(ElemType.FLOAT, q4AccuracyLevel),
        embedding: 'q8',
      };
    case 'q4f16':
      return {
        act: ElemType.FLOAT16,
        linear: q4Linear(ElemType.FLOAT16, q4AccuracyLevel),
        lmHead: q4Linear(ElemType.FLOAT16, q4AccuracyLevel),
        embedding: 'q8',
      };
  }
}

/** Writes <outDir>/onnx/<DTYPE_FILE[dtype]> (and its external data file when needed). */
export async function writeOnnxModel(
  spec: ModelSpec,
  weights: WeightSource,
  dtype: Dtype,
  outDir: string,
  options: WriteOnnxOptions = {},
): Promise<OnnxWriteResult> {
  const model = buildDecoderModel(
    spec,
    weights,
    dtypePlan(dtype, options.q4AccuracyLevel, options.q8MaxColumns),
  );
  const mode = options.externalData ?? 'auto';
  const external =
    mode === 'always' || (mode === 'auto' && inlineModelBytes(model) > PROTOBUF_LIMIT_BYTES)
      ? (options.externalDataLayout ?? DEFAULT_EXTERNAL_DATA)
      : null;
  const dir = join(outDir, 'onnx');
  await mkdir(dir, { recursive: true });
  const written = await writeModel(model, join(dir, DTYPE_FILE[dtype]), external);
  const result: OnnxWriteResult = {
    file: written.file,
    bytes: written.bytes + written.dataFiles.reduce((n, f) => n + f.bytes, 0),
  };
  if (written.dataFiles.length > 0) {
    result.externalDataFile = written.dataFiles[0]!.file;
    result.externalDataChunks = written.dataFiles.length;
  }
  return result;
}

/**
 * The `transformers.js_config` object config.json must carry for the dtypes written:
 * `kv_cache_dtype` for the float16 variants (transformers.js 4.3.1 reads the cache type from the
 * session's input metadata, but onnx-community configs carry it and older versions read it), and
 * `use_external_data_format` keyed by file name with the number of data chunks.
 */
export function transformersJsConfig(
  results: Record<Dtype, OnnxWriteResult | undefined>,
): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const kvCache: Record<string, string> = {};
  const external: Record<string, number> = {};
  for (const [dtype, result] of Object.entries(results) as [Dtype, OnnxWriteResult | undefined][]) {
    if (!result) continue;
    if (dtype === 'fp16' || dtype === 'q4f16') kvCache[dtype] = 'float16';
    if (result.externalDataFile) external[basename(result.file)] = result.externalDataChunks ?? 1;
  }
  if (Object.keys(kvCache).length > 0) config.kv_cache_dtype = kvCache;
  if (Object.keys(external).length > 0) config.use_external_data_format = external;
  return config;
}
