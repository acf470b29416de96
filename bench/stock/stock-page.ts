/**
 * What a developer sets up without edgetier: `pipeline('text-generation', model)` from
 * @huggingface/transformers with its defaults (device, dtype, threads, the asyncify ORT build it
 * imports, the browser cache), on the page's main thread. The one deviation: ORT's wasmPaths point
 * at files served locally, since nothing can come from a CDN on the benchmark machine. `load` may
 * set ORT's numThreads (the "same threads" setup); ORT reads it once, at its first session, so a
 * page serves one thread setting.
 *
 * It is measured by the same method as edgetier (src/core/bench/method.ts): synthetic prompt ids,
 * EOS suppressed with min_new_tokens, and the shared MetricsRecorder fed by transformers.js's own
 * TextStreamer, which detokenises every token as a streaming app does (edgetier's rows stream too).
 * Memory: the WebAssembly memories ORT creates are recorded (instrumentation only).
 */
import asyncifyMjs from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';
import asyncifyWasm from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { GenerationMetrics } from '../../src/core/metrics.ts';
import { MetricsRecorder } from '../../src/core/metrics.ts';

const memories: WebAssembly.Memory[] = [];
const NativeMemory = WebAssembly.Memory;
class TrackedMemory extends NativeMemory {
  constructor(descriptor: WebAssembly.MemoryDescriptor) {
    super(descriptor);
    memories.push(this);
  }
}
WebAssembly.Memory = TrackedMemory;

const transformers = await import('@huggingface/transformers');
const { env, pipeline, PreTrainedTokenizer, Tensor, TextStreamer } = transformers;

env.allowLocalModels = true;
env.allowRemoteModels = false;
env.localModelPath = `${location.origin}/models/`;
const wasm = env.backends.onnx.wasm;
if (wasm)
  wasm.wasmPaths = {
    mjs: new URL(asyncifyMjs, location.href).href,
    wasm: new URL(asyncifyWasm, location.href).href,
  };

type Generator = Awaited<ReturnType<typeof pipeline<'text-generation'>>>;
let generator: Generator | null = null;
/** The streamer's tokenizer (the pipeline's own where it loaded one). */
let tokenizer: Generator['tokenizer'] | null = null;

async function settle<T>(run: () => Promise<T>) {
  try {
    return { ok: true as const, value: await run() };
  } catch (error) {
    return {
      ok: false as const,
      code: 'load_failed',
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

async function tokenizerFromFiles(name: string): Promise<Generator['tokenizer']> {
  const read = async (file: string) => {
    const response = await fetch(`${env.localModelPath}${name}/${file}`);
    if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
    return response.json();
  };
  const [json, config] = await Promise.all([read('tokenizer.json'), read('tokenizer_config.json')]);
  return new PreTrainedTokenizer(json, config);
}

const stockBench = {
  /**
   * Loads `/models/<name>/` with pipeline() defaults; `cold` first empties transformers.js's cache;
   * `threads` (null: ORT's own choice) sets ORT's numThreads before the first load of this page.
   */
  load: (name: string, cold: boolean, threads: number | null) =>
    settle(async () => {
      if (threads !== null && wasm) wasm.numThreads = threads;
      if (cold) await caches.delete('transformers-cache');
      const start = performance.now();
      let fetchedMs = start;
      generator = await pipeline('text-generation', name, {
        progress_callback: (event: { status?: string }) => {
          if (event.status === 'done') fetchedMs = performance.now();
        },
      });
      const end = performance.now();
      // transformers.js 4.3.1 probes for tokenizer files with a check that skips an http
      // localModelPath when remote models are off, so pipeline() here loads no tokenizer (and
      // AutoTokenizer finds none). The streamer needs one: built from the same files, outside
      // the timed load.
      tokenizer = generator.tokenizer ?? (await tokenizerFromFiles(name));
      const session = (generator.model as unknown as { sessions?: Record<string, unknown> }).sessions;
      return {
        totalMs: end - start,
        downloadMs: fetchedMs - start,
        initMs: end - fetchedMs,
        // ORT writes the count it used back into numThreads when it starts (its own default: half
        // the cores, at most 4; 1 without cross-origin isolation, whatever was asked).
        threads: wasm?.numThreads ?? 0,
        hasSession: session !== undefined,
      };
    }),
  unload: () =>
    settle(async () => {
      await generator?.dispose();
      generator = null;
      tokenizer = null;
    }),
  generate: (promptIds: number[], newTokens: number) =>
    settle(async (): Promise<GenerationMetrics> => {
      if (!generator) throw new Error('No model is loaded.');
      const dims = [1, promptIds.length];
      const recorder = new MetricsRecorder(promptIds.length);
      recorder.start();
      await generator.model.generate({
        input_ids: new Tensor(
          'int64',
          BigInt64Array.from(promptIds, (v) => BigInt(v)),
          dims,
        ),
        attention_mask: new Tensor('int64', new BigInt64Array(promptIds.length).fill(1n), dims),
        max_new_tokens: newTokens,
        min_new_tokens: newTokens,
        do_sample: false,
        streamer: new TextStreamer(tokenizer!, {
          skip_prompt: true,
          callback_function: () => {},
          token_callback_function: () => recorder.token(),
        }),
      } as unknown as Parameters<Generator['model']['generate']>[0]);
      return recorder.finish();
    }),
  memory: () => memories.reduce((sum, m) => sum + m.buffer.byteLength, 0) || null,
  versions: () => ({
    transformers: env.version,
    onnxruntimeWeb: (env.backends.onnx as { versions?: { web?: string } }).versions?.web ?? null,
  }),
};

(window as unknown as { stockBench: typeof stockBench }).stockBench = stockBench;
document.getElementById('status')!.textContent = 'ready';
