/**
 * TokenGenerator on transformers.js's generate() (ONNX Runtime: onnxruntime-node for device `cpu`,
 * onnxruntime-web for `wasm` and `webgpu`). The cache is transformers.js's DynamicCache, passed back
 * to generate() for the next turn; an InterruptableStoppingCriteria carries `stop()`. transformers.js
 * 4.3.1 never applies top_p (its TopPLogitsWarper is commented out), so a NucleusLogitsProcessor does.
 */
import {
  BaseStreamer,
  type DynamicCache,
  InterruptableStoppingCriteria,
  LogitsProcessor,
  type PreTrainedModel,
  Tensor,
} from '@huggingface/transformers';
import type { Device, EngineName } from '../core/engine.ts';
import { DEFAULT_TOP_K, nucleus } from './sampling.ts';
import type { GenerationArgs, TokenGenerator } from './token-generator.ts';

/** One streamed token as transformers.js reports it: the first `put` carries the prompt. */
class TokenStreamer extends BaseStreamer {
  private seenPrompt = false;

  constructor(private readonly onToken: (id: number) => void) {
    super();
  }

  override put(value: bigint[][]): void {
    if (!this.seenPrompt) {
      this.seenPrompt = true;
      return;
    }
    const id = value[0]?.[0];
    if (id !== undefined) this.onToken(Number(id));
  }

  override end(): void {}
}

/**
 * Top-p for transformers.js's generate(): masks (to -Infinity) every logit outside the nucleus of
 * the top-k tokens, as edgetier's CPU sampler draws. generate() runs custom processors after its
 * own (repetition penalty, minimum length, temperature) and before its sampler's top-k and softmax,
 * so the order is temperature, top-k, top-p, as in src/runtime/sampling.ts.
 */
export class NucleusLogitsProcessor extends LogitsProcessor {
  constructor(
    private readonly topK: number,
    private readonly topP: number,
  ) {
    super();
  }

  override _call(_inputIds: bigint[][], logits: Tensor): Tensor {
    const data = logits.data as Float32Array;
    const vocab = logits.dims.at(-1)!;
    for (let at = 0; at < data.length; at += vocab) {
      const row = data.subarray(at, at + vocab);
      const { ids } = nucleus(row, this.topK, this.topP);
      const kept = ids.map((id) => row[id]!);
      row.fill(Number.NEGATIVE_INFINITY);
      for (let i = 0; i < ids.length; i++) row[ids[i]!] = kept[i]!;
    }
    return logits;
  }
}

/** The top_k generate() samples with when the request sets none: generation_config.json's, else config.json's, else 50. */
function defaultTopK(model: PreTrainedModel): number {
  for (const value of [
    (model.generation_config as { top_k?: unknown } | null)?.top_k,
    (model.config as unknown as { top_k?: unknown }).top_k,
  ]) {
    if (typeof value === 'number') return value;
  }
  return DEFAULT_TOP_K;
}

function toIds(tensor: Tensor): number[] {
  return Array.from(tensor.data as BigInt64Array, (v) => Number(v));
}

/**
 * Cuts a cache back to its first `length` positions, in place. Keys and values of a position depend
 * only on the tokens up to it (causal attention), so the kept part is exactly what a fresh prefill
 * of those tokens would give. Only for caches in CPU memory; returns false for GPU-resident ones.
 */
function truncateCache(cache: DynamicCache, length: number): boolean {
  const entries = Object.entries(cache as Record<string, Tensor>).filter(([name]) =>
    name.startsWith('past_key_values.'),
  );
  if (entries.some(([, t]) => t.location !== 'cpu')) return false;
  cache.update(
    Object.fromEntries(entries.map(([name, t]) => [name, t.slice(null, null, [0, length], null)])),
  );
  return true;
}

export class TransformersGenerator implements TokenGenerator {
  readonly engine: EngineName;
  readonly config: Record<string, unknown>;
  readonly eosIds: ReadonlySet<number>;
  private readonly stopper = new InterruptableStoppingCriteria();
  private cache: DynamicCache | null = null;
  private ids: number[] = [];

  constructor(
    private readonly model: PreTrainedModel,
    device: Device,
  ) {
    this.engine = device === 'cpu' ? 'onnxruntime-node' : 'onnxruntime-web';
    this.config = model.config as unknown as Record<string, unknown>;
    const eos = model.generation_config?.eos_token_id ?? this.config.eos_token_id;
    this.eosIds = new Set((Array.isArray(eos) ? eos : eos == null ? [] : [eos]).map(Number));
  }

  get cachedIds(): readonly number[] {
    return this.ids;
  }

  truncate(length: number): boolean {
    if (!this.cache || !truncateCache(this.cache, length)) return false;
    this.ids = this.ids.slice(0, length);
    return true;
  }

  reset(): void {
    const cache = this.cache;
    this.cache = null;
    this.ids = [];
    if (cache) void cache.dispose();
  }

  stop(): void {
    this.stopper.interrupt();
  }

  clearStop(): void {
    this.stopper.reset();
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
      const dims = [1, promptIds.length];
      const input_ids = new Tensor(
        'int64',
        BigInt64Array.from(promptIds, (v) => BigInt(v)),
        dims,
      );
      const attention_mask = new Tensor('int64', new BigInt64Array(promptIds.length).fill(1n), dims);
      const temperature = sampling.temperature ?? 0;
      const topP = sampling.topP ?? 1;
      // Top-p only matters when sampling; the processor and the sampler then use the same top-k.
      const topK = sampling.topK ?? (temperature > 0 && topP < 1 ? defaultTopK(this.model) : undefined);
      const options: Record<string, unknown> = {
        input_ids,
        attention_mask,
        max_new_tokens: maxNewTokens,
        ...(ignoreEos ? { min_new_tokens: maxNewTokens } : {}),
        do_sample: temperature > 0,
        ...(temperature > 0 ? { temperature } : {}),
        ...(topK !== undefined ? { top_k: topK } : {}),
        ...(temperature > 0 && topP < 1
          ? { logits_processor: [new NucleusLogitsProcessor(topK ?? DEFAULT_TOP_K, topP)] }
          : {}),
        ...(sampling.repetitionPenalty !== undefined
          ? { repetition_penalty: sampling.repetitionPenalty }
          : {}),
        stopping_criteria: [this.stopper],
        streamer: new TokenStreamer(onToken),
        return_dict_in_generate: true,
        ...(reuse && this.cache ? { past_key_values: this.cache } : {}),
      };
      // The option types of generate() do not admit a custom streamer; the runtime accepts any BaseStreamer.
      const output = (await this.model.generate(
        options as Parameters<PreTrainedModel['generate']>[0],
      )) as unknown as {
        sequences: Tensor;
        past_key_values: DynamicCache;
      };
      const sequences = toIds(output.sequences);
      // The cache now holds every token but the last one generated (it was never fed back).
      this.cache = output.past_key_values;
      this.ids = sequences.slice(0, this.cache.get_seq_length());
    } catch (error) {
      this.reset();
      throw error;
    }
  }

  async dispose(): Promise<void> {
    this.reset();
    await this.model.dispose();
  }
}
