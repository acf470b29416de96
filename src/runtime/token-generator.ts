/**
 * The forward-pass side of a ModelSession: one conversation's KV cache and the token loop over it.
 * ModelSession owns everything a request means (template, context fitting, cache reuse decisions,
 * stop strings, streaming, metrics); a TokenGenerator only runs ids and picks the next token.
 * Two implementations: transformers.js's generate() on ONNX Runtime (`transformers-generator.ts`)
 * and edgetier's own CPU decoder (`src/cpu-engine/cpu-generator.ts`).
 */
import type { EngineName, SamplingOptions } from '../core/engine.ts';

export interface GenerationArgs {
  /** The whole prompt; its first `cachedIds.length` tokens are already in the cache when `reuse`. */
  promptIds: readonly number[];
  /** Run on top of the cache (ModelSession checked that it holds a prefix of `promptIds`). */
  reuse: boolean;
  /** Most tokens to generate (at least 1). */
  maxNewTokens: number;
  /** Generate exactly `maxNewTokens`: end-of-sequence tokens are suppressed until then. */
  ignoreEos: boolean;
  sampling: Pick<SamplingOptions, 'temperature' | 'topP' | 'topK' | 'repetitionPenalty'>;
  /** Called once per generated token, as soon as it exists. */
  onToken: (id: number) => void;
}

export interface TokenGenerator {
  readonly engine: EngineName;
  /** edgetier's CPU engine: its kernels and how its 4-bit layers quantise activations, for people (LoadInfo.cpuKernels). */
  readonly cpuKernels?: string;
  /** config.json as the runtime read it. */
  readonly config: Record<string, unknown>;
  /** Tokens that end a generation (generation_config.json, else config.json). */
  readonly eosIds: ReadonlySet<number>;
  /** The token ids whose keys and values the cache holds, in order. */
  readonly cachedIds: readonly number[];
  /** Cuts the cache back to its first `length` tokens, in place; false when it cannot. */
  truncate(length: number): boolean;
  /** Forgets the cache. */
  reset(): void;
  /**
   * Runs the prompt and generates until EOS, `maxNewTokens` or `stop()`. Afterwards the cache holds
   * every token but the last one generated (it was never fed back); on an error it is reset. A long
   * prompt is read in chunks: a `stop()` while it is read ends the call with no token, the cache then
   * holding the chunks read (a prefix of the prompt, reusable by the next request).
   */
  generate(args: GenerationArgs): Promise<void>;
  /** Ends the running generation after its current token; stays set until `clearStop()`. */
  stop(): void;
  /** Forgets a `stop()`: ModelSession clears it when a request starts and ends. */
  clearStop(): void;
  dispose(): Promise<void>;
}
