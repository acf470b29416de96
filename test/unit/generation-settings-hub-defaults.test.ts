/**
 * Hub-style config.json files carrying generation defaults (older transformers wrote them all, "off"),
 * through `edgetier convert` and the CPU engine's load (NodeEngine), against ONNX Runtime on the same
 * folder: what generate() reads as off must load, not be refused. The off forms other than null and
 * the defaults (a negative top_k, empty lists, values at or below generate()'s threshold) were refused
 * before (a hostile review's finding).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingOptions } from '../../src/core/engine.ts';
import { generationConfigRefusal } from '../../src/core/generation-settings.ts';
import { generationDefaults } from '../../src/cpu-engine/cpu-generator.ts';
import {
  SETTINGS_CHECKPOINT,
  type TempConvertedFolders,
  tempConvertedFolders,
} from '../helpers/converted-folders.ts';
import { nodeAnswer } from '../helpers/node-answer.ts';

/** A transformers 4.2x-era PretrainedConfig.to_dict()'s generation defaults, all "off". */
const OLD_DEFAULTS = {
  max_length: 20,
  min_length: 0,
  do_sample: false,
  early_stopping: false,
  num_beams: 1,
  num_beam_groups: 1,
  diversity_penalty: 0.0,
  temperature: 1.0,
  top_k: 50,
  top_p: 1.0,
  typical_p: 1.0,
  repetition_penalty: 1.0,
  length_penalty: 1.0,
  no_repeat_ngram_size: 0,
  encoder_no_repeat_ngram_size: 0,
  bad_words_ids: null,
  num_return_sequences: 1,
  output_scores: false,
  return_dict_in_generate: false,
  forced_bos_token_id: null,
  forced_eos_token_id: null,
  remove_invalid_values: false,
  exponential_decay_length_penalty: null,
  suppress_tokens: null,
  begin_suppress_tokens: null,
  chunk_size_feed_forward: 0,
};

let folders: TempConvertedFolders;
beforeAll(async () => {
  folders = await tempConvertedFolders('edgetier-hub-defaults-', 'fp32', {
    ...SETTINGS_CHECKPOINT,
    generationConfig: false,
    configOverrides: OLD_DEFAULTS,
  });
}, 600_000);
afterAll(async () => {
  await folders?.remove();
});

async function ids(runtime: 'edgetier' | 'onnxruntime', dir: string, sampling: SamplingOptions) {
  const r = await nodeAnswer(runtime, dir, {
    prompt: 'Once upon a time',
    sampling: { maxNewTokens: 12, ignoreEos: true, ...sampling },
    seed: 7,
  });
  return r.outputIds;
}

/** A copy of the converted folder with `config` as its config.json. */
const withConfig = (name: string, config: Record<string, unknown>) =>
  folders.folder(name, { 'config.json': JSON.stringify(config) });

describe('Hub-style off-form config.json', () => {
  it('the converter copies the defaults; the engine loads the folder and agrees with ORT', async () => {
    expect(folders.config.top_k).toBe(50);
    expect(folders.config.num_beams).toBe(1);
    expect(await ids('edgetier', folders.built, {})).toEqual(await ids('onnxruntime', folders.built, {}));
  }, 300_000);

  // Values transformers.js 4.3.1 reads as "off" (no processor, or one that changes no logit), each
  // in config.json only. Before ff54b98 the engine loaded such a folder (it ignored config.json).
  const OFF_IN_TRANSFORMERS_JS: [string, unknown][] = [
    ['top_k', -1], // MultinomialSampler: top_k > 0 only; src/runtime/sampling.ts nucleus alike
    ['suppress_tokens', []],
    ['bad_words_ids', []],
    ['begin_suppress_tokens', []],
    ['no_repeat_ngram_size', -1], // applied only > 0
    ['guidance_scale', 0], // applied only > 1
    ['num_beams', 0], // beam search only > 1
    ['min_length', -1], // applied only > 0
  ];
  it.each(OFF_IN_TRANSFORMERS_JS)('config.json %s = %j is off in generate(): not refused', (field, value) => {
    expect(generationConfigRefusal({}, { ...OLD_DEFAULTS, [field]: value })).toBeNull();
    expect(generationConfigRefusal({ [field]: value }, {})).toBeNull();
  });

  it('a folder with config.json top_k -1 samples as top_k 0 on both runtimes', async () => {
    const dir = withConfig('topk-neg', { ...folders.config, top_k: -1 });
    const zero = withConfig('topk-zero', { ...folders.config, top_k: 0 });
    const hot = { temperature: 50 };
    expect(await ids('onnxruntime', dir, hot)).toEqual(await ids('onnxruntime', zero, hot));
    // The engine's draws are not seeded: it loads the folder (it refused it) and reads the same top-k.
    expect(await ids('edgetier', dir, hot)).toHaveLength(12);
    expect(generationDefaults({}, { ...folders.config, top_k: -1 }).topK).toBe(0);
  }, 300_000);

  it("ORT's top-p path reads a decoder-nested text_config top_k as generate() does", async () => {
    const { top_k: _drop, ...rest } = folders.config;
    const nested = withConfig('nested', { ...rest, decoder: { text_config: { top_k: 1 } } });
    const greedy = await ids('onnxruntime', nested, {});
    // at top-p 1 generate() itself samples with top_k 1: greedy
    expect(await ids('onnxruntime', nested, { temperature: 50 })).toEqual(greedy);
    // at top-p < 1 edgetier's defaultTopK should give the same top_k 1
    expect(await ids('onnxruntime', nested, { temperature: 50, topP: 0.999999 })).toEqual(greedy);
  }, 300_000);
});
