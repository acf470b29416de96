/**
 * Loads a model on edgetier's CPU engine in the engine worker: the same files the ONNX Runtime path
 * reads, through the same machinery (ModelFiles: the model cache with its integrity checks, resumed
 * downloads, picked folders), so a model cached by one engine loads offline on the other. config.json,
 * generation_config.json (optional) and the ONNX file of the dtype are read here; the tokenizer
 * through transformers.js as on the ORT path. Imported only after the ORT build is fixed (it pulls in
 * transformers.js).
 */
import { AutoTokenizer } from '@huggingface/transformers';
import type { HfConfig } from '../src/builder/hf-config.ts';
import { DTYPE_FILE, type Dtype } from '../src/core/dtypes.ts';
import type { ThreadsFallback } from '../src/core/engine.ts';
import { EdgetierError } from '../src/core/errors.ts';
import { generationConfigRefusal, generationConfigSizeRefusal } from '../src/core/generation-settings.ts';
import type { LibraryProgressEvent } from '../src/core/load-progress.ts';
import { cpuModelSession } from '../src/cpu-engine/cpu-generator.ts';
import { requireCpuDtype } from '../src/cpu-engine/decoder.ts';
import { cpuModelSpec } from '../src/cpu-engine/model-refusal.ts';
import {
  type WebKernelThreads,
  webKernelThreadSpawner,
  webKernelThreadsRefusal,
} from '../src/cpu-engine/web-threads.ts';
import type { LoadModelOptions, ModelSession } from '../src/runtime/model-session.ts';
import { engineMemory, kernelModule } from './cpu-kernels.ts';
import type { ModelFiles, TransformersEnv } from './model-files.ts';

/** The URL transformers.js would fetch `file` of `model` from (its cache key too). */
function fileUrl(env: TransformersEnv, model: string, file: string): string {
  const path = env.remotePathTemplate.replaceAll('{model}', model).replaceAll('{revision}', 'main');
  return [env.remoteHost.replace(/\/+$/, ''), path.replace(/^\/+|\/+$/g, ''), file]
    .filter((part) => part !== '')
    .join('/');
}

/** A whole file as bytes: from the model cache when it holds it, else downloaded (and cached). */
async function readFile(
  files: ModelFiles,
  url: string,
  file: string,
  required: boolean,
  progress?: (event: LibraryProgressEvent) => void,
  /** The dtype whose weights `file` holds (the ONNX file), so that a 404 says the dtype is missing. */
  weightsOf?: Dtype,
): Promise<Uint8Array | null> {
  const before = files.lastFailure;
  const response = (await files.cache.match(url)) ?? (await files.fetch(url));
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    if (!required && response.status === 404) {
      files.lastFailure = before; // an optional file that is absent is no failure
      return null;
    }
    // A weight file that is not there is a dtype the model does not ship: said as ORT's path says it.
    if (response.status === 404 && weightsOf) {
      throw new EdgetierError(
        'unsupported_dtype',
        `The model has no ${weightsOf} weights: ${url} returned 404. Pick a dtype the model ships (its onnx/ ` +
          'folder lists them) or build it with `edgetier convert --dtype`.',
      );
    }
    throw new EdgetierError(
      response.status === 404 ? 'model_not_found' : 'download_failed',
      `${url} could not be read: HTTP ${response.status}.`,
    );
  }
  const total = Number(response.headers.get('content-length') ?? 0);
  progress?.({ status: 'initiate', file });
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  // Into one buffer of the declared size when there is one (no second copy of a large file).
  let out = new Uint8Array(total > 0 ? total : 1 << 20);
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, loaded + value.length));
      grown.set(out.subarray(0, loaded));
      out = grown;
    }
    out.set(value, loaded);
    loaded += value.length;
    progress?.({ status: 'progress', file, loaded, total: Math.max(total, loaded) });
  }
  progress?.({ status: 'done', file });
  return loaded === out.length ? out : out.slice(0, loaded);
}

const json = (bytes: Uint8Array | null): Record<string, unknown> =>
  bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>) : {};

/**
 * A ModelSession on the CPU engine (device `wasm`): on `threads` threads (a pool of Web Workers over
 * one shared memory, thread-pool.ts) where the page is cross-origin isolated, else on one; a pool
 * that fails to start leaves one thread too. Either way `onThreadsFallback` is told why, and the
 * session's `threads` says how many run. Refuses by name what it does not run: `no_wasm_simd`
 * (before any download), `unsupported_dtype`, and `unsupported_architecture` or `shape_mismatch`
 * for a graph edgetier did not convert.
 */
export async function loadCpuModelSession(
  options: Pick<LoadModelOptions, 'model' | 'dtype' | 'templateRenderer' | 'progressCallback'> & {
    env: TransformersEnv;
    files: ModelFiles;
    /** Threads asked for (default 1). */
    threads?: number;
    onThreadsFallback?: (fallback: ThreadsFallback) => void;
  },
): Promise<ModelSession> {
  const { model, env, files } = options;
  const dtype = requireCpuDtype(options.dtype);
  const asked = options.threads ?? 1;
  const fallBack = (reason: string) => options.onThreadsFallback?.({ asked, reason });
  let spawner: WebKernelThreads | null = null;
  if (asked > 1) {
    const refusal = webKernelThreadsRefusal();
    if (refusal !== null) fallBack(refusal);
    else {
      try {
        spawner = webKernelThreadSpawner();
      } catch (error) {
        fallBack(`its threads could not start: ${(error as Error).message}`);
      }
    }
  }
  try {
    // The threaded build over a shared memory once a pool may start; it runs one thread as well,
    // so a pool that then fails to start keeps both.
    const kernels = await kernelModule(spawner !== null);
    const memory = engineMemory(spawner !== null);
    const progress = options.progressCallback;
    const read = (file: string, required: boolean, weightsOf?: Dtype) =>
      readFile(files, fileUrl(env, model, file), file, required, progress, weightsOf);
    const config = json(await read('config.json', true));
    const generationBytes = await read('generation_config.json', false);
    // Refused by size before it is parsed, as the model index refuses it (generation-settings.ts).
    const tooBig = generationBytes ? generationConfigSizeRefusal(generationBytes.length) : null;
    if (tooBig) throw new EdgetierError('unsupported_architecture', tooBig);
    const generationConfig = json(generationBytes);
    // A model the CPU engine refuses by its settings is refused before its ONNX file is downloaded:
    // generation_config.json first, then config.json, as Node's loader and the probe (model-refusal.ts).
    const generationRefusal = generationConfigRefusal(generationConfig, config);
    if (generationRefusal) throw new EdgetierError('unsupported_architecture', generationRefusal);
    cpuModelSpec(config as HfConfig);
    const onnx = (await read(`onnx/${DTYPE_FILE[dtype]}`, true, dtype)) as Uint8Array;
    const tokenizer = await AutoTokenizer.from_pretrained(
      model,
      progress ? { progress_callback: progress } : {},
    );
    return await cpuModelSession(
      { config, generationConfig, onnx, kernels, tokenizer, memory },
      {
        dtype,
        device: 'wasm',
        ...(options.templateRenderer ? { templateRenderer: options.templateRenderer } : {}),
        ...(spawner
          ? {
              threads: asked,
              spawn: spawner.spawn,
              onThreadsFailed: (reason: string) => fallBack(`its threads failed to start: ${reason}`),
            }
          : {}),
      },
    );
  } finally {
    // Every thread has read the source by now (it said ready, or it failed and was terminated).
    spawner?.revoke();
  }
}
