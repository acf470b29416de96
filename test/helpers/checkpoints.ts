/**
 * Makes small Hugging Face checkpoints on disk for tests: config.json, model.safetensors (or shards
 * with model.safetensors.index.json) in F32/F16/BF16, and the tiny tokenizer's files. Weights are
 * seeded random (src/builder/random-weights.ts), with jittered norms and visible biases so that a
 * graph that drops a norm weight or a bias produces different tokens.
 *
 * The signature is shared with other test files: add options, do not change existing ones.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HfConfig, parseHfConfig, specToHfConfig } from '../../src/builder/hf-config.ts';
import { expectedTensors } from '../../src/builder/hf-tensors.ts';
import { TINY_TOKENIZER_SIZE, tinyTokenizer } from '../../src/builder/preset-tokenizers.ts';
import { RandomWeights } from '../../src/builder/random-weights.ts';
import { type StoredDtype, type TensorToWrite, writeSafetensors } from '../../src/builder/safetensors.ts';
import type { Family, Llama3RopeScaling, ModelSpec } from '../../src/core/model-spec.ts';

export interface CheckpointOptions {
  family: Family;
  /** Tied output head (no lm_head.weight). Default true. */
  tied?: boolean;
  /** How tensors are stored. Default 'F32'. */
  dtype?: StoredDtype;
  /** Two shards plus model.safetensors.index.json instead of one model.safetensors. Default false. */
  sharded?: boolean;
  /** Seed of the random weights. Default 1. */
  seed?: number;
  /** Default 64. */
  hiddenSize?: number;
  /** Default 2. */
  numLayers?: number;
  /** Default 4. */
  numHeads?: number;
  /** Default 2 (grouped-query attention). */
  numKvHeads?: number;
  /** Default 128. */
  intermediateSize?: number;
  /** Default: 32 for qwen3 (so q_proj is wider than hidden_size), hiddenSize / numHeads otherwise. */
  headDim?: number;
  /** Rows of the embedding. Default: the tiny tokenizer's size (384). Must not be smaller. */
  vocabSize?: number;
  /** Default 10000. */
  ropeTheta?: number;
  /** Llama 3 RoPE scaling, for family 'llama'. Default null. */
  ropeScaling?: Llama3RopeScaling | null;
  /** Default 512. */
  maxPositionEmbeddings?: number;
  /** Default 1e-5. */
  rmsNormEps?: number;
  /** Uniform jitter around 1 of the RMSNorm weights. Default 0.25. */
  normJitter?: number;
  /** Std of the q/k/v biases (qwen2). Default 0.5. */
  biasStd?: number;
  /** Put the chat template in chat_template.jinja instead of tokenizer_config.json. Default false. */
  chatTemplateJinja?: boolean;
  /** Write generation_config.json. Default true. */
  generationConfig?: boolean;
  /**
   * Multiplies every Linear weight (default 1). Larger values let the layers outweigh the embedding,
   * so a tied model stops echoing its last token and greedy margins grow (fewer near-ties).
   */
  linearScale?: number;
  /** Fields merged over the generated config.json (e.g. to make it invalid). */
  configOverrides?: HfConfig;
}

export interface Checkpoint {
  dir: string;
  spec: ModelSpec;
  config: HfConfig;
  /** Names of the tensors written, in file order. */
  tensorNames: string[];
}

/** The tiny tokenizer's special ids, which every fixture's config.json refers to. */
export const FIXTURE_TOKENS = { endOfText: 0, imStart: 1, imEnd: 2 } as const;

export async function makeCheckpoint(dir: string, options: CheckpointOptions): Promise<Checkpoint> {
  const family = options.family;
  const hiddenSize = options.hiddenSize ?? 64;
  const numHeads = options.numHeads ?? 4;
  const vocabSize = options.vocabSize ?? TINY_TOKENIZER_SIZE;
  if (vocabSize < TINY_TOKENIZER_SIZE) {
    throw new Error(`vocabSize ${vocabSize} is smaller than the tiny tokenizer (${TINY_TOKENIZER_SIZE})`);
  }
  const spec: ModelSpec = {
    family,
    vocabSize,
    hiddenSize,
    intermediateSize: options.intermediateSize ?? 128,
    numLayers: options.numLayers ?? 2,
    numHeads,
    numKvHeads: options.numKvHeads ?? 2,
    headDim: options.headDim ?? (family === 'qwen3' ? 32 : hiddenSize / numHeads),
    rmsNormEps: options.rmsNormEps ?? 1e-5,
    ropeTheta: options.ropeTheta ?? 10000,
    ropeScaling: options.ropeScaling ?? null,
    maxPositionEmbeddings: options.maxPositionEmbeddings ?? 512,
    tieWordEmbeddings: options.tied ?? true,
    attentionBias: family === 'qwen2',
    qkNorm: family === 'qwen3',
  };
  const config: HfConfig = {
    ...specToHfConfig(spec),
    bos_token_id: FIXTURE_TOKENS.imStart,
    eos_token_id: FIXTURE_TOKENS.imEnd,
    pad_token_id: FIXTURE_TOKENS.endOfText,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[options.dtype ?? 'F32'],
    ...options.configOverrides,
  };
  if (!options.configOverrides) parseHfConfig(config); // a fixture meant to be valid must parse

  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const weights = new RandomWeights(spec, {
    seed: options.seed ?? 1,
    normJitter: options.normJitter ?? 0.25,
    biasStd: options.biasStd ?? 0.5,
  });
  const tensors: TensorToWrite[] = [];
  const linearScale = options.linearScale ?? 1;
  for (const t of expectedTensors(spec)) {
    const data = await weights.read(t.name);
    if (t.role === 'linear' && linearScale !== 1)
      for (let i = 0; i < data.length; i++) data[i]! *= linearScale;
    tensors.push({ name: t.name, shape: t.shape, data });
  }
  const dtype = options.dtype ?? 'F32';
  if (options.sharded) {
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(join(dir, file), shard, dtype);
      for (const t of shard) {
        weightMap[t.name] = file;
        totalSize += t.data.length * (dtype === 'F32' ? 4 : 2);
      }
    }
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`,
    );
  } else {
    await writeSafetensors(join(dir, 'model.safetensors'), tensors, dtype);
  }

  const tokenizer = tinyTokenizer();
  const tokenizerConfig = { ...tokenizer.tokenizerConfig };
  if (options.chatTemplateJinja) {
    await writeFile(join(dir, 'chat_template.jinja'), String(tokenizerConfig.chat_template));
    delete tokenizerConfig.chat_template;
  }
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.tokenizerJson));
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  if (options.generationConfig ?? true) {
    const generation = {
      bos_token_id: FIXTURE_TOKENS.imStart,
      eos_token_id: FIXTURE_TOKENS.imEnd,
      pad_token_id: FIXTURE_TOKENS.endOfText,
    };
    await writeFile(join(dir, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
  }
  return { dir, spec, config, tensorNames: tensors.map((t) => t.name) };
}
