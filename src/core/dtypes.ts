/**
 * The weight formats a model folder can hold, and the file name transformers.js looks for with each
 * `dtype` (the onnx-community layout).
 */
export const DTYPES = ['fp32', 'fp16', 'q8', 'q4', 'q4f16'] as const;
export type Dtype = (typeof DTYPES)[number];

export const DTYPE_FILE: Record<Dtype, string> = {
  fp32: 'model.onnx',
  fp16: 'model_fp16.onnx',
  q8: 'model_quantized.onnx',
  q4: 'model_q4.onnx',
  q4f16: 'model_q4f16.onnx',
};

export function isDtype(value: string): value is Dtype {
  return (DTYPES as readonly string[]).includes(value);
}
