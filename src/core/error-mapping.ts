/**
 * Maps whatever transformers.js, onnxruntime-web, fetch or WebGPU threw into one EdgetierError whose
 * code a program can branch on and whose message says what to do. Pure: it reads only the thrown
 * value and what the engine was doing, so every rule is unit-tested against the libraries' real
 * message texts.
 */
import { EdgetierError } from './errors.ts';

export interface ErrorContext {
  /** What the engine was doing. */
  phase: 'load' | 'generate';
  /** The model being loaded, for messages. */
  model?: string;
  device?: string;
  dtype?: string;
  /** The last HTTP failure the worker's fetch saw (URL and status), when the library hid it. */
  lastHttpFailure?: { url: string; status: number };
}

function messageOf(error: unknown): string {
  if (typeof error === 'number' || typeof error === 'bigint') return String(error);
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}

const WEIGHT_FILE = /\/onnx\/(model[\w.-]*\.onnx(?:_data(?:_\d+)?)?)/;
const QUOTED_URL = /"([^"]+)"/;

function httpFailure(message: string): { url: string; status: number } | null {
  // transformers.js 4.3.1's ERROR_MAPPING: the status is in its wording, not in the message.
  const mapped: Record<string, number> = {
    'Could not locate file': 404,
    'Unauthorized access to file': 401,
    'Forbidden access to file': 403,
    'Bad request error occurred': 400,
    'Request timeout error occurred': 408,
    'Internal server error error occurred': 500,
    'Bad gateway error occurred': 502,
    'Service unavailable error occurred': 503,
    'Gateway timeout error occurred': 504,
  };
  for (const [text, status] of Object.entries(mapped)) {
    if (message.startsWith(text)) return { url: QUOTED_URL.exec(message)?.[1] ?? '', status };
  }
  const coded = /^Error \((\d{3})\) occurred while trying to load file: "([^"]+)"/.exec(message);
  if (coded) return { url: coded[2]!, status: Number(coded[1]) };
  const other = /^[\w ]+ error(?: error)? occurred while trying to load file: "([^"]+)"/.exec(message);
  if (other) return { url: other[1]!, status: 0 };
  return null;
}

/** ORT-web reports a failed wasm malloc as a bare number (the C++ exception pointer) or a code. */
function isBareAllocationCode(message: string): boolean {
  return /^\d{4,}$/.test(message.trim());
}

const OOM_PATTERNS = [
  /out of memory/i,
  /\bOOM\b/,
  /bad_alloc/i,
  /failed to allocate/i,
  /allocation failed/i,
  /could not allocate memory/i,
  /Cannot enlarge memory/i,
  /Aborted\(OOM\)/i,
  /memory access out of bounds/i,
];

export function toEdgetierError(error: unknown, context: ErrorContext): EdgetierError {
  if (error instanceof EdgetierError) return error;
  const message = messageOf(error);
  const cause = { cause: error };
  const where = context.device ? ` on ${context.device}${context.dtype ? ` (${context.dtype})` : ''}` : '';

  if ((error instanceof Error && error.name === 'AbortError') || /\baborted by the user\b/i.test(message)) {
    return new EdgetierError('aborted', 'Stopped: the request was cancelled.', cause);
  }

  if (isBareAllocationCode(message) || OOM_PATTERNS.some((p) => p.test(message))) {
    return new EdgetierError(
      'out_of_memory',
      `Out of memory${where} (${message.slice(0, 120)}). Close other tabs, pick a smaller dtype (q4 or q8) ` +
        'or a smaller model, or switch device.',
      cause,
    );
  }

  if (/device (?:was |is )?lost|GPUDeviceLostInfo|DXGI_ERROR_DEVICE_REMOVED/i.test(message)) {
    // ORT's text starts with its build path; the sentence about the loss is the part worth showing.
    const lost = (/[^.:]*device (?:was |is )?lost[^.]*/i.exec(message)?.[0] ?? message).trim().slice(0, 120);
    return new EdgetierError(
      'device_lost',
      `The GPU device was lost (${lost}). Reload the model; if it happens again, the GPU ` +
        'ran out of memory or its driver reset: use a smaller dtype or the WASM backend.',
      cause,
    );
  }

  if (/does not support fp16|shader-f16/i.test(message)) {
    return new EdgetierError(
      'unsupported_dtype',
      `This GPU has no shader-f16, so ${context.dtype ?? 'fp16'} weights cannot run on WebGPU. Use q4 or fp32, ` +
        'or the WASM backend.',
      cause,
    );
  }
  const invalidDtype = /^Invalid dtype: (\S+)/.exec(message);
  if (invalidDtype) {
    return new EdgetierError(
      'unsupported_dtype',
      `Unknown dtype "${invalidDtype[1]}": use one of fp32, fp16, q8, q4, q4f16.`,
      cause,
    );
  }

  const unsupportedModel =
    /Unsupported model type: (\S+)|model_type[^.]*not supported|Unknown model class "([^"]+)"/i.exec(message);
  if (unsupportedModel) {
    const type = unsupportedModel[1] ?? unsupportedModel[2] ?? 'this';
    return new EdgetierError(
      'unsupported_architecture',
      `The model's architecture (${type}) is not supported: edgetier runs llama, qwen2 and qwen3 decoders. ` +
        'Pick another model or convert one with `edgetier convert`.',
      cause,
    );
  }

  const http = httpFailure(message) ?? null;
  // A load that failed after a file was missing (transformers.js often goes on and fails later
  // with an unrelated TypeError) is reported as that missing file.
  const missingFile = context.phase === 'load' && context.lastHttpFailure?.status === 404;
  if (http || missingFile || /Failed to fetch|NetworkError|network error|ERR_/i.test(message)) {
    const failure = http ?? context.lastHttpFailure ?? { url: '', status: 0 };
    const weight = WEIGHT_FILE.exec(failure.url);
    if (failure.status === 404 && weight) {
      return new EdgetierError(
        'unsupported_dtype',
        `The model has no ${context.dtype ?? ''} weights: ${failure.url} returned 404. Pick a dtype the model ` +
          'ships (its onnx/ folder lists them) or build it with `edgetier convert --dtype`.',
        cause,
      );
    }
    if (failure.status === 404) {
      return new EdgetierError(
        'model_not_found',
        `Model not found: ${failure.url || context.model} returned 404. Check the model id or folder name, ` +
          'and the mirror host if you set one.',
        cause,
      );
    }
    const status = failure.status ? `HTTP ${failure.status}` : 'a network error';
    return new EdgetierError(
      'download_failed',
      `Download failed: ${failure.url || context.model || 'a model file'} gave ${status}. Check your connection ` +
        'and retry; files already downloaded are kept.',
      cause,
    );
  }

  if (/was not found locally|Local file missing|local_files_only/i.test(message)) {
    return new EdgetierError(
      'model_not_found',
      `Model not found: ${message.match(QUOTED_URL)?.[1] ?? context.model} is not available locally and ` +
        'remote models are off. Check the folder name or allow downloads.',
      cause,
    );
  }

  if (
    /protobuf parsing failed|Failed to load model|invalid model|ERROR_CODE: (?:1|2|7|10)\b/i.test(message)
  ) {
    return new EdgetierError(
      'weights_corrupt',
      `The model file is damaged or truncated (${message.slice(0, 160)}). Delete the cached copy and download ` +
        'it again, or rebuild it with `edgetier convert`.',
      cause,
    );
  }

  if (/no available backend|webgpu is not supported|navigator\.gpu|requestAdapter/i.test(message)) {
    return new EdgetierError(
      'no_webgpu',
      'WebGPU is not available in this browser: use a recent Chrome or Edge with hardware acceleration on, ' +
        'or choose the WASM backend.',
      cause,
    );
  }

  return new EdgetierError(
    context.phase === 'load' ? 'load_failed' : 'generation_failed',
    context.phase === 'load'
      ? `Could not load ${context.model ?? 'the model'}${where}: ${message}. Try another dtype or device.`
      : `Generation failed${where}: ${message}. Reset the conversation and try again.`,
    cause,
  );
}
