/**
 * A converted ONNX file with some float32 values of its initializers overwritten (a NaN or an
 * infinity the converter would refuse in a checkpoint): the damaged files the NaN-logits tests load.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DTYPE_FILE, type Dtype } from '../../src/core/dtypes.ts';
import { readOnnxInitializers } from '../../src/cpu-engine/onnx-reader.ts';

/**
 * The bytes of `dir`'s ONNX file of `dtype` with, for each initializer named in `edits`, element
 * `index` (flat, row-major) set to `value`; throws where the initializer is missing, not float32, or
 * shorter than the index.
 */
export function onnxWithFloats(
  dir: string,
  dtype: Dtype,
  edits: Record<string, [index: number, value: number][]>,
): Buffer {
  const bytes = readFileSync(join(dir, 'onnx', DTYPE_FILE[dtype]));
  const initializers = readOnnxInitializers(bytes).initializers;
  for (const [name, values] of Object.entries(edits)) {
    const tensor = initializers.get(name);
    if (tensor?.elemType !== 1) throw new Error(`${dtype}: no float32 initializer ${name}`);
    const at = tensor.data.byteOffset - bytes.byteOffset;
    for (const [index, value] of values) {
      if (!(index >= 0 && (index + 1) * 4 <= tensor.data.byteLength))
        throw new Error(`${dtype}: ${name} has no element ${index}`);
      bytes.writeFloatLE(value, at + index * 4);
    }
  }
  return bytes;
}
