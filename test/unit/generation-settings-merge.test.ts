/**
 * effectiveGenerationSettings against transformers.js's own _prepare_generation_config (the real
 * PreTrainedModel method, run on the real PretrainedConfig): the CPU engine, the model index and ORT's
 * top-p path must read the model's generation settings as generate() does. The nested-block cases
 * failed before the merge followed generate()'s order (a hostile review's finding).
 */
import { PreTrainedModel, PretrainedConfig } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { effectiveGenerationSettings, generationConfigRefusal } from '../../src/core/generation-settings.ts';

const FIELDS = ['top_k', 'repetition_penalty', 'no_repeat_ngram_size', 'num_beams', 'min_length'];

/** What generate() reads for each field, from config.json and generation_config.json's JSON texts. */
function theirs(configText: string, generationText: string): Record<string, unknown> {
  const model = {
    config: new PretrainedConfig(JSON.parse(configText)),
    generation_config: JSON.parse(generationText),
  };
  const gen = (
    PreTrainedModel.prototype as unknown as {
      _prepare_generation_config: (this: unknown, g: unknown, k: unknown) => Record<string, unknown>;
    }
  )._prepare_generation_config.call(model, null, {});
  return Object.fromEntries(FIELDS.map((f) => [f, gen[f]]));
}

/** Ours, with transformers.js's GenerationConfig defaults where neither file sets a field. */
function ours(configText: string, generationText: string): Record<string, unknown> {
  const defaults: Record<string, unknown> = {
    top_k: 50,
    repetition_penalty: 1,
    no_repeat_ngram_size: 0,
    num_beams: 1,
    min_length: 0,
  };
  const s = effectiveGenerationSettings(JSON.parse(configText), JSON.parse(generationText));
  return Object.fromEntries(FIELDS.map((f) => [f, s.has(f) ? s.get(f)?.value : defaults[f]]));
}

const CASES: [string, string, string][] = [
  [
    'decoder holding a text_config block',
    '{"decoder": {"text_config": {"top_k": 7, "no_repeat_ngram_size": 3}}}',
    '{}',
  ],
  [
    'decoder replacing text_config with null',
    '{"text_config": {"top_k": 7}, "decoder": {"text_config": null}}',
    '{}',
  ],
  ['decoder holding a generator block', '{"decoder": {"generator": {"repetition_penalty": 1.3}}}', '{}'],
];

describe("the generation settings' merge is generate()'s", () => {
  for (const [name, config, gen] of CASES) {
    it(name, () => {
      expect(ours(config, gen)).toEqual(theirs(config, gen));
    });
  }
  it('a decoder-nested text_config no_repeat_ngram_size that ORT applies is refused', () => {
    const config = JSON.parse('{"decoder": {"text_config": {"no_repeat_ngram_size": 3}}}');
    expect(theirs(JSON.stringify(config), '{}').no_repeat_ngram_size).toBe(3);
    expect(generationConfigRefusal({}, config)).toMatch(/no_repeat_ngram_size/);
  });
});
