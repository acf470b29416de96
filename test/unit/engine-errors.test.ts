import { describe, expect, it } from 'vitest';
import { toEdgetierError } from '../../src/core/error-mapping.ts';
import { deserializeError, serializeError } from '../../src/core/error-transfer.ts';
import { EdgetierError } from '../../src/core/errors.ts';

const load = { phase: 'load' as const, model: 'tiny', device: 'wasm', dtype: 'q4' };

// The messages below are the libraries' own texts (transformers.js 4.3.1, onnxruntime-web 1.31).
describe('toEdgetierError', () => {
  it('maps a 404 on a weight file to unsupported_dtype, naming the file', () => {
    const e = toEdgetierError(
      new Error('Could not locate file: "http://127.0.0.1:1/models/tiny/onnx/model_q4.onnx".'),
      load,
    );
    expect(e.code).toBe('unsupported_dtype');
    expect(e.message).toBe(
      'The model has no q4 weights: http://127.0.0.1:1/models/tiny/onnx/model_q4.onnx returned 404. Pick a dtype the model ships (its onnx/ folder lists them) or build it with `edgetier convert --dtype`.',
    );
  });

  it('maps a 404 on config.json to model_not_found', () => {
    const e = toEdgetierError(
      new Error('Could not locate file: "https://hf.co/x/y/resolve/main/config.json".'),
      load,
    );
    expect(e.code).toBe('model_not_found');
    expect(e.message).toMatch(
      /^Model not found: https:\/\/hf\.co\/x\/y\/resolve\/main\/config\.json returned 404\./,
    );
  });

  it('maps other HTTP failures to download_failed with URL and status', () => {
    const e = toEdgetierError(
      new Error('Error (418) occurred while trying to load file: "http://h/m/onnx/model.onnx".'),
      load,
    );
    expect(e.code).toBe('download_failed');
    expect(e.message).toBe(
      'Download failed: http://h/m/onnx/model.onnx gave HTTP 418. Check your connection and retry; files already downloaded are kept.',
    );
  });

  it("reads the status from transformers.js's worded HTTP errors (500 says no number)", () => {
    const e = toEdgetierError(
      new Error(
        'Internal server error error occurred while trying to load file: "http://h/m/onnx/model.onnx".',
      ),
      load,
    );
    expect(e.message).toMatch(/^Download failed: http:\/\/h\/m\/onnx\/model\.onnx gave HTTP 500\./);
  });

  it("shows ORT's device-loss sentence without its build path", () => {
    const ort =
      'failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: /mnt/s/onnxruntime/core/providers/webgpu/buffer_manager.cc:643 ' +
      "Failed to download data from buffer. wgpu::MapAsyncStatus value: 4, message: Failed to execute 'mapAsync' on " +
      "'GPUBuffer': The Device was lost before mapping was resolved.";
    const e = toEdgetierError(new Error(ort), { phase: 'generate', device: 'webgpu', dtype: 'fp32' });
    expect(e.code).toBe('device_lost');
    expect(e.message).toMatch(
      /^The GPU device was lost \(The Device was lost before mapping was resolved\)\. Reload/,
    );
  });

  it('uses the last HTTP failure the fetch saw when the library only says "Failed to fetch"', () => {
    const e = toEdgetierError(new TypeError('Failed to fetch'), {
      ...load,
      lastHttpFailure: { url: 'http://h/m/onnx/model.onnx', status: 0 },
    });
    expect(e.code).toBe('download_failed');
    expect(e.message).toMatch(/^Download failed: http:\/\/h\/m\/onnx\/model\.onnx gave a network error\./);
  });

  it("maps ORT's bare numeric allocation codes and OOM texts to out_of_memory", () => {
    expect(toEdgetierError(12345678, load).code).toBe('out_of_memory');
    expect(toEdgetierError(new Error('12345678'), load).code).toBe('out_of_memory');
    expect(
      toEdgetierError(new RangeError('WebAssembly.Memory(): could not allocate memory'), load).code,
    ).toBe('out_of_memory');
    expect(toEdgetierError(new Error('12345678'), load).message).toMatch(
      /^Out of memory on wasm \(q4\) \(12345678\)\. Close other tabs, pick a smaller dtype/,
    );
  });

  it('maps a truncated model to weights_corrupt', () => {
    const e = toEdgetierError(
      new Error(
        "Can't create a session. ERROR_CODE: 7, ERROR_MESSAGE: Failed to load model because protobuf parsing failed.",
      ),
      load,
    );
    expect(e.code).toBe('weights_corrupt');
    expect(e.message).toMatch(/Delete the cached copy and download it again/);
  });

  it('maps unsupported architectures, fp16 without shader-f16, device loss and aborts', () => {
    expect(toEdgetierError(new Error('Unsupported model type: mamba'), load).code).toBe(
      'unsupported_architecture',
    );
    expect(toEdgetierError(new Error('The device (webgpu) does not support fp16.'), load).code).toBe(
      'unsupported_dtype',
    );
    expect(toEdgetierError(new Error('GPU device was lost: unknown'), load).code).toBe('device_lost');
    expect(toEdgetierError(new DOMException('x', 'AbortError'), load).code).toBe('aborted');
  });

  it('keeps EdgetierErrors and falls back to load_failed / generation_failed', () => {
    const own = new EdgetierError('context_overflow', 'too long');
    expect(toEdgetierError(own, load)).toBe(own);
    expect(toEdgetierError(new Error('boom'), load).message).toBe(
      'Could not load tiny on wasm (q4): boom. Try another dtype or device.',
    );
    expect(toEdgetierError(new Error('boom'), { phase: 'generate' }).code).toBe('generation_failed');
  });
});

describe('error transfer', () => {
  it('round-trips the code and message and maps foreign errors first', () => {
    const wire = serializeError(new Error('Unsupported model type: mamba'), (e) => toEdgetierError(e, load));
    expect(wire.code).toBe('unsupported_architecture');
    const back = deserializeError(structuredClone(wire));
    expect(back).toBeInstanceOf(EdgetierError);
    expect(back.code).toBe('unsupported_architecture');
    expect(back.message).toBe(wire.message);
  });
});
