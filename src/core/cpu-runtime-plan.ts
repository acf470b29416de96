/**
 * Which runtime runs a model's forward passes, from the runtime asked for ('auto' by default), the
 * device and the weight format: the one place that turns the measurements into a choice. Pure: what
 * is only known in the engine worker or after the model's files are read (WASM SIMD, a graph
 * edgetier's converter wrote) is settled by trying edgetier's CPU engine and falling back to ONNX
 * Runtime on its refusal (`fallbackToOrt`), with LoadInfo.fallback saying why.
 *
 * The measured basis, Chromium 156 on this 2-core machine, 2 threads, the CPU engine against
 * ORT-web JSPI (whose q8 was the default before 'auto'):
 * - bench/results/smollm2-135m-twin-cpu-engine/bench.md (3 rounds, quiet): q8 decode 62.5 vs 24.4
 *   tok/s (2.6x), q4 63.2 vs 2.5; prefill pp22 q8 132 vs 187 (0.7x), q4 145 vs 42; WebAssembly
 *   memory 136 / 115 vs 347 / 364 MiB.
 * - bench/results/llama-3.2-1b-twin-cpu-engine/q8/bench.md (2 rounds): q8 decode 9.86 vs 3.05 tok/s
 *   (3.2x), pp22 23.5 vs 13.8 (1.7x), 1194 vs 2989 MiB; q4 (q4/bench.md, a separate run) 6.26 tok/s,
 *   1001 MiB: 2.1x ORT-web's q8 (ORT-web's q4 was not run; it decodes at 2.5 on the smaller twin).
 * So q8 and q4 on wasm go to the CPU engine: a chat answer is mostly decode, where it is 2.6-3.2x
 * ORT-web on q8 and 2.1-2.6x ORT-web's q8 (25x its q4) on q4, and its one slower figure (the 135M
 * twin's short prefill, 0.7-0.8x) costs tens of milliseconds.
 * fp32 stays on ORT: Chromium 150, a later machine (bench/results/smollm2-135m-twin-threads-1-2,
 * 2 rounds), the engine decoded fp32 at 19.3 tok/s on one thread and 29.6 on two against ORT-web's
 * 34.2 and 39.4 (prefill alike). One thread (a page that is not cross-origin isolated) keeps the
 * engine for q8/q4: in that run 90.4 (q8) and 90.3 (q4) tok/s against ORT-web's q8 32.9 (2.7x),
 * pp22 212 and 233 against 189; two threads 141 and 139 against 51. fp16 and q4f16 the engine does
 * not run. On device cpu (Node) ORT stays: in the same 135M run onnxruntime-node prefilled at 2.1-2.9x
 * the engine (435 vs 151 tok/s q8, 315 vs 135 q4) while the engine decoded at 1.2-1.4x native's
 * (66.5 vs 48.1, 70.1 vs 57.8), a trade the measurements do not settle. WebGPU is always ORT's.
 */
import type { Device } from './device.ts';
import type { Dtype } from './dtypes.ts';
import { CPU_RUNTIME_CHOICES, type CpuRuntime, type CpuRuntimeChoice, isCpuRuntimeChoice } from './engine.ts';
import { EdgetierError } from './errors.ts';

/**
 * Whether 'auto' on wasm plans the 4-bit file (q4) instead of q8 where edgetier's CPU engine will run
 * it (autoPlansEngineQ4): the one switch the backend planner, the app's dtype choice and `edgetier
 * bench`'s default row follow. On, since the engine's q4 was measured no slower than its q8 from about
 * half the download and less memory (and it is the one file that also serves WebGPU without f16);
 * Chromium 2 threads on this 2-core machine, the 135M twin unless said:
 * - prefill, after the tiled prefill GEMM (bench/results/wasm-cpu-speed.md, its newest prefill
 *   section): pp22 226 vs 229 tok/s, time to first token 97 vs 96 ms median;
 * - decode: 70.3 vs 67.8 tok/s; the Llama-3.2-1B twin 9.48 vs 7.71.
 * A planned q4 the engine refuses at load time loads q8 on ONNX Runtime instead, else fp32, the
 * first that fits (BackendChoice.ortDtype, the app's AppState.loadPlan; ORT decodes q4 at a few
 * tokens/s), and a visitor whose q8 is already whole
 * in the model cache keeps it (catalog.ts preferredDtypeWithCache: no second download, and offline
 * the one that loads). `bench --baseline` pairs the q4 default row with ORT-web on ORT's own plan's
 * dtype (q8) as its "previous default" (src/bench/run-bench.ts planDefaultRows), not with ORT's q4.
 */
export const AUTO_ENGINE_PREFERS_Q4 = true;

/** The dtypes edgetier's CPU engine runs at all (float32 activations); others are ORT's. */
export const CPU_DTYPES = ['fp32', 'q8', 'q4'] as const;

/** The weight formats whose CPU-engine runs were measured faster than ORT-web's on wasm (above). */
export const AUTO_CPU_ENGINE_DTYPES: readonly Dtype[] = ['q8', 'q4'];

/** The measured decode gain over ONNX Runtime on WASM, per weight format (the files above). */
const AUTO_DECODE_GAIN: Partial<Record<Dtype, string>> = {
  q8: '2.6-3.2x faster than ONNX Runtime does on WASM',
  q4: '2.1-2.6x faster than ONNX Runtime decodes q8 on WASM (25x its q4)',
};

/** What is known before any weight is downloaded about whether edgetier's CPU engine will run a model. */
export interface EngineQ4Facts {
  /** Absent means 'auto'. */
  runtime?: CpuRuntimeChoice | undefined;
  device: Device;
  /** The weight files the model folder offers. */
  dtypes: readonly Dtype[];
  /**
   * config.json carries the `edgetier` block that `edgetier convert` and `synth` write: the engine
   * reads the graph's initializers by the names the converter gives them. Hub exports (onnx-community)
   * lack it and go to ONNX Runtime.
   */
  engineGraph: boolean;
  /** The browser's WebAssembly has SIMD128 (Capabilities.wasmSimd), which the engine needs. */
  wasmSimd: boolean;
}

/**
 * Whether 'auto' plans q4 for this model: only with the switch on, on wasm, for a folder with a q4
 * file that edgetier wrote, in a browser with WASM SIMD; never for an explicit runtime. Otherwise the
 * plan stays ONNX Runtime's (q8 first), since ORT runs q4 at a few tokens/s.
 */
export function autoPlansEngineQ4(facts: EngineQ4Facts, prefersQ4 = AUTO_ENGINE_PREFERS_Q4): boolean {
  return (
    prefersQ4 &&
    (facts.runtime ?? 'auto') === 'auto' &&
    facts.device === 'wasm' &&
    facts.dtypes.includes('q4') &&
    facts.engineGraph &&
    facts.wasmSimd
  );
}

/**
 * Whether config.json's `edgetier` value is the block convert and synth write (src/builder/model-folder.ts
 * Provenance: an object whose `synthetic` is true or false), the mark EngineQ4Facts.engineGraph reads.
 * An array, a string, `{}` or another tool's object under that key is no mark.
 */
export function isEdgetierBlock(block: unknown): boolean {
  return (
    typeof block === 'object' &&
    block !== null &&
    !Array.isArray(block) &&
    typeof (block as { synthetic?: unknown }).synthetic === 'boolean'
  );
}

/** Why 'auto' planned q4, for people (the plan's reasons). */
export const AUTO_ENGINE_Q4_REASON =
  "auto: edgetier's CPU engine will run this model (edgetier wrote its graph, WebAssembly has SIMD) and decodes its q4 file as fast as q8, from half the download";

/**
 * The dtype ONNX Runtime loads instead of `dtype` when edgetier's CPU engine refuses it at load time
 * (BrowserLoadRequest.ortDtype), or undefined to keep it: a q4 that was planned (not chosen by the
 * user) becomes q8 where the folder has it, since ORT decodes q4 at a few tokens/s.
 */
export function ortDtypeAfterRefusal(request: {
  dtype: Dtype;
  /** The folder's weight files. */
  dtypes: readonly Dtype[];
  /** The user pinned this dtype: it is never changed. */
  chosenByUser: boolean;
}): Dtype | undefined {
  if (request.chosenByUser || request.dtype !== 'q4') return undefined;
  return request.dtypes.includes('q8') ? 'q8' : undefined;
}

export interface CpuRuntimePlan {
  /** The runtime to load the model on first. */
  runtime: CpuRuntime;
  /** On a refusal by edgetier's CPU engine (CPU_ENGINE_REFUSALS), load it on ONNX Runtime instead. */
  fallbackToOrt: boolean;
  /** Why this runtime, for people (the Models view, `generate --json`). */
  reason: string;
}

export function planCpuRuntime(request: {
  /** Absent means 'auto'. */
  runtime?: CpuRuntimeChoice | undefined;
  device: Device;
  dtype: Dtype;
  /** An explicit 'edgetier' may still fall back (the app's choice); 'auto' always may. */
  fallbackToOrt?: boolean | undefined;
}): CpuRuntimePlan {
  const { device, dtype } = request;
  const asked = request.runtime ?? 'auto';
  // A runtime from outside the types (a page's request, a saved setting) is refused, never read as auto.
  if (!isCpuRuntimeChoice(asked)) {
    throw new EdgetierError(
      'bad_request',
      `Unknown CPU runtime "${String(asked)}"; use ${CPU_RUNTIME_CHOICES.join(', ')}.`,
    );
  }
  if (asked === 'onnxruntime') {
    return { runtime: 'onnxruntime', fallbackToOrt: false, reason: 'ONNX Runtime was asked for.' };
  }
  if (asked === 'edgetier') {
    return {
      runtime: 'edgetier',
      fallbackToOrt: request.fallbackToOrt === true,
      reason: "edgetier's CPU engine was asked for.",
    };
  }
  if (device === 'webgpu') {
    return { runtime: 'onnxruntime', fallbackToOrt: false, reason: 'auto: WebGPU runs on ONNX Runtime.' };
  }
  if (device === 'cpu') {
    return {
      runtime: 'onnxruntime',
      fallbackToOrt: false,
      reason:
        "auto: on device cpu onnxruntime-node runs it (it prefills 2-3x faster than edgetier's CPU engine in Node; the engine's faster decode was not judged worth that).",
    };
  }
  if (!AUTO_CPU_ENGINE_DTYPES.includes(dtype)) {
    return {
      runtime: 'onnxruntime',
      fallbackToOrt: false,
      reason:
        dtype === 'fp32'
          ? "auto: ONNX Runtime decodes fp32 weights 1.3-1.8x faster than edgetier's CPU engine."
          : `auto: edgetier's CPU engine does not run ${dtype} weights.`,
    };
  }
  return {
    runtime: 'edgetier',
    fallbackToOrt: true,
    reason: `auto: edgetier's CPU engine decodes ${dtype} weights ${AUTO_DECODE_GAIN[dtype]}, in 30-40 % of its memory.`,
  };
}
