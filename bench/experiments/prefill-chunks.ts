/**
 * What reading a long prompt in chunks through the cache costs (TransformersGenerator, so that a Stop
 * lands between chunks): one prompt's time to first token read in one pass (0), in chunks of a fixed
 * size (N), and as the engine does by default (auto: prefillChunkingFor the dtype, sized by time,
 * or for q8 fixed by the model's shape), on
 * onnxruntime-node through ModelSession, configurations interleaved round after round on one loaded
 * model. The first round is a warm-up and is not counted.
 *
 *   npx tsx bench/experiments/prefill-chunks.ts [--tokens 800] [--rounds 5] [--threads 2] [--dtype fp32] <model-dir> 0 64 128 auto
 *
 * Prints per configuration the median time to first token (the prompt, then one token), the prefill
 * rate it gives, its ratio to the first configuration's, and the forward passes the prompt took.
 */
import { parseArgs } from 'node:util';
import { AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';
import type { Dtype } from '../../src/core/dtypes.ts';
import { ModelSession } from '../../src/runtime/model-session.ts';
import {
  type PrefillChunking,
  prefillChunkingFor,
  TransformersGenerator,
} from '../../src/runtime/transformers-generator.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tokens: { type: 'string', default: '800' },
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    dtype: { type: 'string', default: 'fp32' },
  },
});
const [dir, ...sizes] = positionals;
if (!dir || sizes.length === 0) {
  console.error(
    'usage: prefill-chunks.ts [--tokens N] [--rounds N] [--threads N] [--dtype D] <model-dir> <chunk>…',
  );
  process.exit(2);
}
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const threads = Number(values.threads);
const dtype = values.dtype as Dtype;

const tokenizer = await AutoTokenizer.from_pretrained(dir);
const model = await AutoModelForCausalLM.from_pretrained(dir, {
  dtype,
  device: 'cpu',
  session_options: { intraOpNumThreads: threads },
});
const vocab = Number((model.config as unknown as { vocab_size: number }).vocab_size);
// A fixed pseudo-random prompt of exactly `tokens` ids (special tokens, the first few, left out).
let seed = 12345;
const promptIds = Array.from({ length: tokens }, () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return 16 + (seed % (vocab - 16));
});

const configs = sizes.map((size) => {
  const n = Number(size);
  const chunking: PrefillChunking | null =
    size === 'auto'
      ? prefillChunkingFor(dtype, model.config as unknown as Record<string, unknown>)
      : n === 0
        ? null
        : { onePassTokens: n, firstChunkTokens: n, minChunkTokens: n, maxChunkTokens: n, targetMs: 1 };
  const generator = new TransformersGenerator(model, 'cpu', chunking);
  const session = new ModelSession(tokenizer, generator, { dtype, device: 'cpu', threads });
  const label = size === 'auto' ? 'auto' : n === 0 ? 'one pass' : `chunks of ${size}`;
  return { label, session, generator, ttft: [] as number[], chunks: [] as number[] };
});

for (let round = 0; round <= rounds; round++) {
  for (const config of configs) {
    config.session.resetConversation();
    const before = config.generator.prefillChunks;
    const result = await config.session.generate({ promptIds, sampling: { maxNewTokens: 1 } });
    if (round > 0) config.ttft.push(result.metrics.ttftMs);
    if (round > 0) config.chunks.push(config.generator.prefillChunks - before + 1);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const base = median(configs[0]!.ttft);
console.log(`${dir} ${dtype}, ${tokens} prompt tokens, ${threads} threads, median of ${rounds} rounds`);
for (const { label, ttft, chunks } of configs) {
  const ms = median(ttft);
  console.log(
    `${label.padEnd(16)} ${ms.toFixed(0).padStart(7)} ms  ${((tokens * 1000) / ms).toFixed(1).padStart(8)} tok/s  ${(ms / base).toFixed(3)}x  ${median(chunks)} runs`,
  );
}
await model.dispose();
