/**
 * One error class for the whole product, with a code a program can branch on and a message a person
 * can act on. The worker rebuilds it from `code` on the page side; the CLI prints `message` alone.
 */
import type { Dtype } from './dtypes.ts';

export type EdgetierErrorCode =
  // input and model building
  | 'usage'
  | 'config_missing'
  | 'weights_missing'
  | 'weights_corrupt'
  | 'unsupported_architecture'
  | 'shape_mismatch'
  | 'unsupported_dtype'
  | 'io_error'
  // engine
  | 'no_webgpu'
  /** The browser's WebAssembly has no SIMD128: edgetier's CPU engine cannot run (ORT's plain build can). */
  | 'no_wasm_simd'
  | 'browser_missing'
  | 'browser_failed'
  | 'out_of_memory'
  | 'download_failed'
  | 'storage_full'
  | 'model_not_found'
  | 'context_overflow'
  | 'device_lost'
  | 'aborted'
  | 'load_failed'
  | 'generation_failed'
  /** The model's chat template failed, looped past its time budget or produced too much. */
  | 'template_failed'
  // remote tier
  | 'auth'
  | 'rate_limited'
  | 'server_error'
  | 'network'
  | 'timeout'
  | 'bad_request'
  | 'internal';

export class EdgetierError extends Error {
  override name = 'EdgetierError' as const;
  readonly code: EdgetierErrorCode;
  /**
   * The weight format whose load failed, where it is not the one asked for: ONNX Runtime's fallback
   * after edgetier's CPU engine refused the planned file (what a Bench row names).
   */
  readonly dtype?: Dtype;

  constructor(code: EdgetierErrorCode, message: string, options?: { cause?: unknown; dtype?: Dtype }) {
    super(message, options);
    this.code = code;
    if (options?.dtype !== undefined) this.dtype = options.dtype;
  }
}

export function isEdgetierError(value: unknown): value is EdgetierError {
  return value instanceof EdgetierError;
}
