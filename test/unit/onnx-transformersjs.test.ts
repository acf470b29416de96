/**
 * The written folders load in @huggingface/transformers 4.3.1 (the product's runtime) with no patches:
 * each dtype generates, token for token, what a direct onnxruntime-node greedy loop on the same file
 * produces (prefill, then one token at a time on the cache, as transformers.js does), and fp32 also
 * matches the independent reference. External data is exercised by forcing it on a tiny model.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { AutoModelForCausalLM, env, Tensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { type OnnxWriteResult, transformersJsConfig, writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { DTYPES, type Dtype } from '../../src/core/dtypes.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { memoryWeights, randomTensors, referenceLogits, TINY_SPECS } from '../helpers/onnx-fixtures.ts';
import { emptyPast, step } from '../helpers/onnx-session.ts';

const PROMPT = [5, 17, 250, 3];
const NEW_TOKENS = 6;

/** A minimal Hugging Face config.json for the spec. */
function hfConfig(spec: ModelSpec, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    model_type: spec.family,
    architectures: [
      { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' }[spec.family],
    ],
    vocab_size: spec.vocabSize,
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    head_dim: spec.headDim,
    rms_norm_eps: spec.rmsNormEps,
    rope_theta: spec.ropeTheta,
    max_position_embeddings: spec.maxPositionEmbeddings,
    tie_word_embeddings: spec.tieWordEmbeddings,
    'transformers.js_config': extra,
  };
}

const argmax = (row: number[]) => row.reduce((best, x, i) => (x > row[best]! ? i : best), 0);

async function ortGreedy(file: string, spec: ModelSpec, half: boolean): Promise<number[]> {
  const session = await ort.InferenceSession.create(file);
  const ids = [...PROMPT];
  let r = await step(session, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)], emptyPast(spec, 1, half));
  for (let n = 0; n < NEW_TOKENS; n++) {
    const next = argmax(r.logits[0]!.at(-1)!);
    ids.push(next);
    if (n === NEW_TOKENS - 1) break;
    r = await step(session, [[next]], [ids.map(() => 1)], [[ids.length - 1]], r.past);
  }
  return ids;
}

async function transformersGreedy(modelDir: string, dtype: Dtype): Promise<number[]> {
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.localModelPath = dirname(modelDir);
  const model = await AutoModelForCausalLM.from_pretrained(basename(modelDir), { dtype, device: 'cpu' });
  try {
    const inputIds = new Tensor('int64', BigInt64Array.from(PROMPT.map(BigInt)), [1, PROMPT.length]);
    const out = (await model.generate({
      input_ids: inputIds,
      max_new_tokens: NEW_TOKENS,
      do_sample: false,
    } as never)) as Tensor;
    return Array.from(out.data as BigInt64Array, Number);
  } finally {
    await model.dispose();
  }
}

describe('transformers.js loads the written folders', () => {
  const spec = TINY_SPECS['qwen2 with bias']!;
  const tensors = randomTensors(spec, 11);
  const root = mkdtempSync(join(tmpdir(), 'edgetier-tjs-'));
  const modelDir = join(root, 'tiny-qwen2');
  const results = {} as Record<Dtype, OnnxWriteResult | undefined>;

  beforeAll(async () => {
    for (const dtype of DTYPES)
      results[dtype] = await writeOnnxModel(spec, memoryWeights(tensors), dtype, modelDir);
    writeFileSync(
      join(modelDir, 'config.json'),
      JSON.stringify(hfConfig(spec, transformersJsConfig(results))),
    );
  });

  it('names one file per dtype and marks the float16 caches', () => {
    expect(readdirSync(join(modelDir, 'onnx')).sort()).toEqual([
      'model.onnx',
      'model_fp16.onnx',
      'model_q4.onnx',
      'model_q4f16.onnx',
      'model_quantized.onnx',
    ]);
    expect(transformersJsConfig(results)).toEqual({ kv_cache_dtype: { fp16: 'float16', q4f16: 'float16' } });
  });

  it.each(DTYPES)('%s generates what a direct onnxruntime greedy loop generates', async (dtype) => {
    const half = dtype === 'fp16' || dtype === 'q4f16';
    const expected = await ortGreedy(results[dtype]!.file, spec, half);
    expect(await transformersGreedy(modelDir, dtype)).toEqual(expected);
    if (dtype === 'fp32') {
      // And the independent reference agrees token for token.
      const ids = [...PROMPT];
      for (let n = 0; n < NEW_TOKENS; n++) {
        const logits = referenceLogits(spec, tensors, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
        ids.push(argmax(logits[0]!.at(-1)!));
      }
      expect(expected).toEqual(ids);
    }
  });

  it('loads a model written with chunked external data', async () => {
    const llama = TINY_SPECS['llama tied, llama3 rope']!;
    const weights = memoryWeights(randomTensors(llama, 3));
    const dir = join(root, 'tiny-llama-external');
    mkdirSync(dir);
    const inline = await writeOnnxModel(llama, weights, 'fp32', join(root, 'tiny-llama-inline'));
    const external = await writeOnnxModel(llama, weights, 'fp32', dir, {
      externalData: 'always',
      externalDataLayout: { thresholdBytes: 1024, chunkBytes: 96 * 1024 },
    });
    expect(external.externalDataFile).toBe(join(dir, 'onnx', 'model.onnx_data'));
    expect(external.externalDataChunks).toBeGreaterThan(1);
    expect(readdirSync(join(dir, 'onnx')).sort()).toEqual(
      [
        'model.onnx',
        'model.onnx_data',
        ...Array.from({ length: external.externalDataChunks! - 1 }, (_, i) => `model.onnx_data_${i + 1}`),
      ].sort(),
    );
    const config = transformersJsConfig({ fp32: external } as Record<Dtype, OnnxWriteResult | undefined>);
    expect(config).toEqual({ use_external_data_format: { 'model.onnx': external.externalDataChunks } });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfig(llama, config)));
    expect(await transformersGreedy(dir, 'fp32')).toEqual(await ortGreedy(inline.file, llama, false));
  });
});
