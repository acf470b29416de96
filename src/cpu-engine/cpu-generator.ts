/**
 * TokenGenerator on edgetier's CPU engine: CpuDecoder's forward passes, the KV cache in its
 * WebAssembly memory (cut back in place by `truncate`), the next token chosen by src/runtime/sampling.
 *
 * The decoder runs synchronously, so between prefill chunks and between tokens the loop yields to
 * the event loop: an interrupt (or any other request) gets through within one chunk or one token.
 * Realm-neutral: Node's loader is node-session.ts, the browser's workers/cpu-model.ts.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import type { HfConfig } from '../builder/hf-config.ts';
import type { Dtype } from '../core/dtypes.ts';
import type { Device, EngineName } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';
import {
  effectiveGenerationSettings,
  eosTokenIds,
  generationConfigRefusal,
} from '../core/generation-settings.ts';
import { type LoadModelOptions, ModelSession } from '../runtime/model-session.ts';
import {
  applyRepetitionPenalty,
  argmax,
  DEFAULT_TOP_K,
  firstNaN,
  NanLogitsError,
  sampleToken,
  suppressTokens,
} from '../runtime/sampling.ts';
import type { GenerationArgs, TokenGenerator } from '../runtime/token-generator.ts';
import { CpuDecoder, PREFILL_CHUNK, requireCpuDtype } from './decoder.ts';
import type { KernelThreadSpawner } from './thread-pool.ts';

/** What the model's generation settings give every request: repetition penalty, top-k, minimum lengths. */
export interface GenerationDefaults {
  repetitionPenalty: number;
  topK: number;
  /** EOS is suppressed while prompt + answer is shorter (generate()'s MinLengthLogitsProcessor); 0: off. */
  minLength: number;
  /** EOS is suppressed while the answer is shorter (MinNewTokensLengthLogitsProcessor); 0: off. */
  minNewTokens: number;
}

/**
 * The defaults of every request from the model's generation settings (generation_config.json's, then
 * config.json's where it does not set them, as transformers.js reads them), refused by name where the
 * engine cannot apply them (generationConfigRefusal).
 */
export function generationDefaults(
  generationConfig: Record<string, unknown>,
  config: unknown = {},
): GenerationDefaults {
  const refusal = generationConfigRefusal(generationConfig, config);
  if (refusal) throw new EdgetierError('unsupported_architecture', refusal);
  const settings = effectiveGenerationSettings(config, generationConfig);
  const penalty = settings.get('repetition_penalty')?.value;
  const topK = settings.get('top_k')?.value;
  // A number (generationConfigRefusal refuses others); generate() adds the step only above 0.
  const least = (field: string) => {
    const value = settings.get(field)?.value;
    return typeof value === 'number' && value > 0 ? value : 0;
  };
  return {
    minLength: least('min_length'),
    minNewTokens: least('min_new_tokens'),
    repetitionPenalty: typeof penalty === 'number' ? penalty : 1,
    // null or 0 and below is no top-k (0), as transformers.js's sampler reads it; absent, 50.
    topK: typeof topK === 'number' ? Math.max(0, topK) : topK === null ? 0 : DEFAULT_TOP_K,
  };
}

/**
 * Lets timers, I/O and messages run (an interrupt arrives that way) without the 1 ms (4 ms when
 * nested) clamp of setTimeout: setImmediate in Node, a MessageChannel message in a worker.
 */
const yieldToEventLoop: () => Promise<void> = (() => {
  const immediate = (globalThis as unknown as { setImmediate?: (callback: () => void) => unknown })
    .setImmediate;
  if (immediate) return () => new Promise<void>((resolve) => immediate(resolve));
  // The DOM's MessageChannel (Node's, typed as worker_threads', is not used: Node has setImmediate).
  const channel = new MessageChannel() as unknown as {
    port1: { onmessage: (() => void) | null };
    port2: { postMessage(message: null): void };
  };
  const waiting: (() => void)[] = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(null);
    });
})();

export class CpuGenerator implements TokenGenerator {
  readonly engine: EngineName = 'edgetier-wasm';
  readonly cpuKernels: string;
  readonly eosIds: ReadonlySet<number>;
  /** Prompt tokens run through the decoder since load, over all requests (cache hits excluded). */
  prefilledTokens = 0;
  private ids: number[] = [];
  private stopped = false;

  constructor(
    private readonly decoder: CpuDecoder,
    readonly config: Record<string, unknown>,
    generationConfig: Record<string, unknown>,
    private readonly defaults: GenerationDefaults = generationDefaults(generationConfig, config),
    /** For sampling; Math.random by default. */
    private readonly random: () => number = Math.random,
  ) {
    this.eosIds = eosTokenIds(config, generationConfig);
    this.cpuKernels = decoder.kernelsLabel;
  }

  get cachedIds(): readonly number[] {
    return this.ids;
  }

  truncate(length: number): boolean {
    if (length > this.ids.length) return false;
    this.decoder.truncate(length);
    this.ids = this.ids.slice(0, length);
    return true;
  }

  reset(): void {
    this.decoder.truncate(0);
    this.ids = [];
  }

  stop(): void {
    this.stopped = true;
  }

  clearStop(): void {
    this.stopped = false;
  }

  async generate({
    promptIds,
    reuse,
    maxNewTokens,
    ignoreEos,
    sampling,
    onToken,
  }: GenerationArgs): Promise<void> {
    try {
      if (!reuse) this.reset();
      const from = this.ids.length;
      if (from >= promptIds.length)
        throw new RangeError('the cache must leave at least one prompt token to run');
      const temperature = sampling.temperature ?? 0;
      const penalty = sampling.repetitionPenalty ?? this.defaults.repetitionPenalty;
      const params = {
        temperature,
        topK: sampling.topK ?? this.defaults.topK,
        topP: sampling.topP ?? 1,
      };
      const seen = new Set(promptIds);
      let logits: Float32Array | null = null;
      for (let at = from; at < promptIds.length; at += PREFILL_CHUNK) {
        if (this.stopped) return;
        const chunk = promptIds.slice(at, at + PREFILL_CHUNK);
        logits = this.decoder.forward(chunk);
        this.prefilledTokens += chunk.length;
        this.ids.push(...chunk);
        await yieldToEventLoop();
      }
      for (let made = 0; logits !== null; made++) {
        if (penalty !== 1) applyRepetitionPenalty(logits, seen, penalty);
        // generate()'s order: the file's minimum lengths, then a request's ignoreEos (its own
        // min_new_tokens on the ORT path), each only suppressing EOS.
        const { minLength, minNewTokens } = this.defaults;
        if ((ignoreEos && made < maxNewTokens) || made < minNewTokens || promptIds.length + made < minLength)
          suppressTokens(logits, this.eosIds);
        // NaN where the choice reads it (not in a suppressed EOS, as on the ORT path, whose check runs
        // after generate()'s own processors): the kernel's scan first, a few microseconds a step.
        if (this.decoder.firstNaNLogit() >= 0 && firstNaN(logits) >= 0) throw new NanLogitsError(made);
        const id = temperature > 0 ? sampleToken(logits, params, this.random) : argmax(logits);
        seen.add(id);
        onToken(id);
        if (made + 1 >= maxNewTokens || this.stopped || (!ignoreEos && this.eosIds.has(id))) break;
        await yieldToEventLoop();
        if (this.stopped) break;
        logits = this.decoder.forward([id]);
        this.ids.push(id);
      }
    } catch (error) {
      this.reset();
      throw error;
    }
  }

  async dispose(): Promise<void> {
    this.reset();
    await this.decoder.dispose();
  }
}

/** What the CPU engine reads of a model, however the realm got it. */
export interface CpuModelParts {
  config: Record<string, unknown>;
  /** generation_config.json; {} when the model has none. */
  generationConfig: Record<string, unknown>;
  /** The whole ONNX file of the dtype (its initializers are read where they lie). */
  onnx: Uint8Array;
  /** The compiled kernels (node-kernels.ts or workers/cpu-kernels.ts). */
  kernels: WebAssembly.Module;
  tokenizer: PreTrainedTokenizer;
  /** The memory to build in (CpuDecoderOptions.memory); default a fresh one. */
  memory?: WebAssembly.Memory;
}

/**
 * A ModelSession on the CPU engine: the tokenizer through transformers.js (chat template and
 * detokenising as on the ORT path), the weights from the ONNX file. Refuses by name (EdgetierError
 * unsupported_dtype, unsupported_architecture, shape_mismatch) what it does not run.
 */
export async function cpuModelSession(
  parts: CpuModelParts,
  options: Pick<LoadModelOptions, 'batching' | 'clock' | 'templateRenderer'> & {
    dtype: Dtype;
    device: Device;
    /**
     * Threads (default 1); above 1, a pool started with `spawn` (thread-pool.ts), and `parts.kernels`
     * must be the threaded build.
     */
    threads?: number;
    spawn?: KernelThreadSpawner;
    /** CpuDecoderOptions.onThreadsFailed: a pool that fails to start leaves one thread, and says why. */
    onThreadsFailed?: (reason: string) => void;
  },
): Promise<ModelSession> {
  const dtype = requireCpuDtype(options.dtype);
  const defaults = generationDefaults(parts.generationConfig, parts.config);
  const decoder = await CpuDecoder.fromFiles(parts.config as HfConfig, parts.onnx, dtype, parts.kernels, {
    memory: parts.memory,
    threads: options.threads,
    spawn: options.spawn,
    ...(options.onThreadsFailed ? { onThreadsFailed: options.onThreadsFailed } : {}),
  });
  return new ModelSession(
    parts.tokenizer,
    new CpuGenerator(decoder, parts.config, parts.generationConfig, defaults),
    { dtype, device: options.device, threads: decoder.threads },
    options,
  );
}
