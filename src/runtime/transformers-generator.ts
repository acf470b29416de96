/**
 * TokenGenerator on transformers.js's generate() (ONNX Runtime: onnxruntime-node for device `cpu`,
 * onnxruntime-web for `wasm` and `webgpu`). The cache is transformers.js's DynamicCache, passed back
 * to generate() for the next turn; an InterruptableStoppingCriteria carries `stop()`.
 */
import {
  BaseStreamer,
  type DynamicCache,
  InterruptableStoppingCriteria,
  type PreTrainedModel,
  Tensor,
} from '@huggingface/transformers';
import type { Device, EngineName } from '../core/engine.ts';
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
      const options: Record<string, unknown> = {
        input_ids,
        attention_mask,
        max_new_tokens: maxNewTokens,
        ...(ignoreEos ? { min_new_tokens: maxNewTokens } : {}),
        do_sample: temperature > 0,
        ...(temperature > 0 ? { temperature } : {}),
        ...(sampling.topP !== undefined ? { top_p: sampling.topP } : {}),
        ...(sampling.topK !== undefined ? { top_k: sampling.topK } : {}),
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
