/**
 * The one contract every engine implements: the Web Worker engine (page side, via Comlink), the
 * in-process Node engine (onnxruntime-node) and the remote tier. Callers never care which one
 * they hold.
 */
import type { Device, EngineName } from './device.ts';
import type { Dtype } from './dtypes.ts';
import type { EdgetierErrorCode } from './errors.ts';
import type { GenerationMetrics } from './metrics.ts';

export type { Device, EngineName } from './device.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Where a model's files come from. */
export type ModelSource =
  /** A Hugging Face model id, fetched from the Hub or from `host` (a mirror). */
  | { kind: 'hub'; id: string; host?: string; revision?: string }
  /** A folder served over HTTP (edgetier serve's /models/<name>/), or a folder on disk in Node. */
  | { kind: 'url'; url: string }
  | { kind: 'path'; path: string };

/**
 * Time budget of the browser engine's warm-up after a load (ModelSession.warmUp). About a second of
 * decoding lets V8 finish tiering ORT's WASM kernels up: on the SmolLM2-135M twin the first reply
 * after a load decoded at 31.6 tok/s with a 252 ms time to first token without it, at 42.3 tok/s and
 * 64 ms with it (bench/results/wasm-cpu-speed.md, table J).
 */
export const DEFAULT_WARMUP_BUDGET_MS = 1000;

export interface LoadRequest {
  source: ModelSource;
  device: Device;
  dtype: Dtype;
  /** WASM threads; 0 or absent means the engine's choice. */
  threads?: number;
  /**
   * Milliseconds of silent generation right after the load, so that the first reply runs at full
   * speed (ModelSession.warmUp). Absent: the browser engine's DEFAULT_WARMUP_BUDGET_MS; the native
   * engine has nothing to warm up and ignores it. 0 turns it off (benchmarks measure the load alone).
   */
  warmupBudgetMs?: number;
  /**
   * What runs the forward passes on a CPU: 'auto' (absent means it) lets src/core/cpu-runtime-plan.ts
   * choose by the committed measurements (on device wasm edgetier's own WebAssembly CPU engine for
   * q8/q4 weights, ONNX Runtime for the rest and for whatever the engine refuses); 'onnxruntime' or
   * 'edgetier' forces one. The CPU engine runs fp32/q8/q4 files of edgetier's converter, on its own
   * pool of threads. The browser engine takes it for device wasm; the Node engine takes its runtime
   * from its constructor.
   */
  runtime?: CpuRuntimeChoice;
}

export const CPU_RUNTIMES = ['onnxruntime', 'edgetier'] as const;
export type CpuRuntime = (typeof CPU_RUNTIMES)[number];
export const CPU_RUNTIME_CHOICES = ['auto', ...CPU_RUNTIMES] as const;
export type CpuRuntimeChoice = (typeof CPU_RUNTIME_CHOICES)[number];

export function isCpuRuntimeChoice(value: string): value is CpuRuntimeChoice {
  return (CPU_RUNTIME_CHOICES as readonly string[]).includes(value);
}

/** Which runtime a load asked for and why the one in LoadInfo.engine was chosen. */
export interface RuntimeChoice {
  asked: CpuRuntimeChoice;
  /** For people: 'auto: …' with the measured basis, or that the runtime was asked for. */
  reason: string;
}

/** Why the runtime asked for did not run the model, and the error it refused it with. */
export interface RuntimeFallback {
  asked: CpuRuntime;
  code: EdgetierErrorCode;
  reason: string;
  /**
   * The dtype planned for edgetier's CPU engine when ONNX Runtime loads another instead (LoadInfo.dtype):
   * a q4 plan re-planned to q8, since ORT decodes q4 at a few tokens/s.
   */
  plannedDtype?: Dtype;
}

export interface SamplingOptions {
  /** 0 means greedy. Default 0. */
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  /** Default 256. */
  maxNewTokens?: number;
  /** Generation stops when the text ends with one of these; they are not part of the answer. */
  stop?: string[];
  /** Never stop at an end-of-sequence token: exactly maxNewTokens are generated (benchmarks). */
  ignoreEos?: boolean;
}

export interface GenerateRequest {
  /** Chat messages, rendered through the model's chat template. */
  messages?: ChatMessage[];
  /** Raw text, used as is (no chat template). Exactly one of `messages`, `prompt` and `promptIds`. */
  prompt?: string;
  /** Token ids run as they are: no template, no tokenizer (benchmarks need prompts of exactly N tokens). */
  promptIds?: number[];
  sampling?: SamplingOptions;
  /** For templates with a thinking switch (Qwen3 `enable_thinking`). */
  enableThinking?: boolean;
}

/** A batch of streamed text; engines send several tokens per chunk, not one message per token. */
export interface StreamChunk {
  text: string;
  /** Text that belongs to the reasoning part (inside <think>…</think>), kept apart from the answer. */
  reasoning?: string;
  tokens: number;
  /**
   * The prompt's length in tokens, in a first chunk with no text and 0 tokens sent before the prompt
   * is read, so a page can say what it waits for (engines that cannot tell send none).
   */
  promptTokens?: number;
}

/** `filtered`: a remote tier's content filter cut the answer (OpenAI's `content_filter`). */
export type FinishReason = 'stop' | 'length' | 'aborted' | 'filtered';

export interface GenerateResult {
  text: string;
  reasoning?: string;
  promptIds: number[];
  outputIds: number[];
  finishReason: FinishReason;
  metrics: GenerationMetrics;
  /** Oldest messages left out so the conversation fits the context window (absent when none). */
  droppedMessages?: number;
  /** The model that answered, as a remote tier's response names it (the `model` field). */
  model?: string;
}

export interface LoadProgress {
  file: string;
  loadedBytes: number;
  totalBytes: number;
  /** Totals over every file of the model. */
  allLoadedBytes: number;
  allTotalBytes: number;
  /**
   * Download rate: bytes per second fetched over the network (bytes read from the browser cache or
   * from files the visitor picked are not a download and are left out of it).
   */
  bytesPerSec: number;
  etaSec: number | null;
  /** Of `allLoadedBytes`, those read on this device (browser cache, picked files); absent when not told. */
  localBytes?: number;
  /**
   * 'setup' once every file has arrived and the runtime builds the model (and warms it up); absent
   * from engines that do not tell.
   */
  phase?: 'download' | 'setup';
  /**
   * 'onnxruntime' once edgetier's CPU engine has refused the model and ONNX Runtime loads it instead:
   * the figures start over for ORT's load (LoadInfo.fallback says why).
   */
  fallback?: 'onnxruntime';
}

export interface LoadInfo {
  modelId: string;
  device: Device;
  dtype: Dtype;
  threads: number;
  downloadMs: number;
  initMs: number;
  /** The warm-up after the session was built (see LoadRequest.warmupBudgetMs); 0 when none ran. */
  warmupMs: number;
  /** The model's config says it is a synthetic shape twin (random weights). */
  synthetic: boolean;
  mirrors?: string;
  /** Parameter count, where the engine is told it (the app's own `edgetier serve` tier says). */
  params?: number;
  /**
   * What the model cache did that the visitor should know: a model that changed on the server and
   * was downloaded again, a damaged cached file replaced, an offline load not revalidated, a model
   * deleted in another tab while it loaded (so not kept).
   */
  cacheNotes?: string[];
  /** The runtime that runs the model; absent from engines that do not say. */
  engine?: EngineName;
  /** Why that runtime (the runtime asked for, 'auto' with its basis); absent from engines that do not say. */
  runtimeChoice?: RuntimeChoice;
  /**
   * edgetier's CPU engine: which kernels build runs and how its 4-bit layers quantise activations,
   * for people ('relaxed SIMD, int8 activations'; CpuDecoder.kernelsLabel). Absent on ORT.
   */
  cpuKernels?: string;
  /**
   * Set when the load asked for edgetier's CPU engine (or 'auto' chose it), which refused the model
   * or the browser, and ONNX Runtime runs it instead (the page's WorkerEngine).
   */
  fallback?: RuntimeFallback;
  /**
   * Set when fewer threads run than were asked for (`threads` says how many run): edgetier's CPU
   * engine in a page that is not cross-origin isolated, or whose threads failed to start, runs one.
   */
  threadsFallback?: ThreadsFallback;
}

export interface ThreadsFallback {
  /** Threads the load asked for. */
  asked: number;
  /** Why they do not run, for people. */
  reason: string;
}

export interface CachedModel {
  id: string;
  bytes: number;
  /**
   * The weight formats whose model file is whole in the cache (absent where the engine does not
   * say): a model cached in one format is a download in another.
   */
  dtypes?: Dtype[];
}

export interface Engine {
  load(request: LoadRequest, onProgress?: (progress: LoadProgress) => void): Promise<LoadInfo>;
  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult>;
  /**
   * Stops the running generation after the current token (its partial answer is returned), and
   * ends the requests already submitted that have not started (an `aborted` error).
   */
  interrupt(): Promise<void>;
  /**
   * Checks a request and fits its prompt into the context window without running it, so a server
   * can refuse what can never run before its response starts. Engines that cannot tell omit it.
   * `signal` ends the check (an `aborted` error): a long conversation takes seconds to fit, and
   * `interrupt()` is no way to stop it, since it would also cut another client's generation.
   */
  fitPrompt?(
    request: GenerateRequest,
    signal?: AbortSignal,
  ): Promise<{ promptTokens: number; droppedMessages: number }>;
  /** Forgets the conversation's KV cache. */
  resetConversation(): Promise<void>;
  unload(): Promise<void>;
  listCached(): Promise<CachedModel[]>;
  deleteCached(id: string): Promise<void>;
}
