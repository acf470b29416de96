/**
 * Turns what transformers.js and ONNX Runtime throw while loading into an EdgetierError whose code a
 * program can branch on and whose message says what to do. The original error stays as `cause`.
 */
import { DTYPE_FILE, type Dtype } from '../core/dtypes.ts';
import type { Device } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';

export function classifyLoadError(
  error: unknown,
  context: { model: string; dtype: Dtype; device: Device },
): EdgetierError {
  if (error instanceof EdgetierError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : '';
  const where = `"${context.model}"`;
  const options = { cause: error };

  if (/Unsupported model type: (\S+)/.test(message)) {
    const type = /Unsupported model type: (\S+)/.exec(message)?.[1];
    return new EdgetierError(
      'unsupported_architecture',
      `${where} is a ${type} model, which transformers.js cannot run as a causal language model.`,
      options,
    );
  }
  if (
    name === 'ModelFileNotFoundError' ||
    /Could not locate file|file was not found|Local file missing/.test(message)
  ) {
    const onnxFile = DTYPE_FILE[context.dtype];
    if (message.includes(onnxFile)) {
      return new EdgetierError(
        'unsupported_dtype',
        `${where} has no onnx/${onnxFile}, so it cannot run in dtype ${context.dtype}. ` +
          `Pick a dtype the model folder has, or build it with \`edgetier convert … --dtype ${context.dtype}\`.`,
        options,
      );
    }
    return new EdgetierError(
      'model_not_found',
      `Model ${where} was not found or is incomplete (${message}). Check the path or model id.`,
      options,
    );
  }
  // ORT reports failed allocations as "bad_alloc", "Failed to allocate" or a bare number (a wasm
  // heap address) thrown as the error itself.
  if (
    /bad_alloc|out of memory|Failed to allocate|memory access out of bounds/i.test(message) ||
    /^\d+$/.test(message)
  ) {
    return new EdgetierError(
      'out_of_memory',
      `Not enough memory to load ${where} in dtype ${context.dtype} on ${context.device}. ` +
        'Try a smaller model or a 4-bit dtype, or close other tabs and apps.',
      options,
    );
  }
  if (
    /protobuf parsing failed|invalid model|Load model from .* failed|ONNX format|INVALID_PROTOBUF/i.test(
      message,
    )
  ) {
    return new EdgetierError(
      'load_failed',
      `The ONNX file of ${where} (dtype ${context.dtype}) is damaged or truncated: ${message}. Download or build it again.`,
      options,
    );
  }
  return new EdgetierError('load_failed', `Loading ${where} failed: ${message}`, options);
}
