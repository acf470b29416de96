/**
 * min_length and min_new_tokens in a model's generation settings, applied by the CPU engine as
 * transformers.js's generate() applies them (EOS suppressed while prompt + answer, or the answer, is
 * shorter), where it refused such a model before and ran it on ONNX Runtime. Through NodeEngine on a
 * converted tiny llama whose EOS is made its first greedy token, so an answer without the setting
 * stops at once: the tokens must equal the ORT path's, which generate() computes.
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

let folders: TempConvertedFolders;
/** The token the model emits first after the prompt (greedy), made its EOS below. */
let first: number;
/** The prompt's token count (min_length counts it). */
let promptTokens: number;

async function run(runtime: 'edgetier' | 'onnxruntime', dir: string, sampling: SamplingOptions = {}) {
  const r = await nodeAnswer(runtime, dir, {
    prompt: 'Once upon a time',
    sampling: { maxNewTokens: 10, ...sampling },
  });
  return { ids: r.outputIds, finish: r.finishReason };
}

/** The folder with EOS = the first greedy token and generation_config.json's `settings`. */
const variant = (name: string, settings: Record<string, unknown>) =>
  folders.folder(name, {
    'config.json': JSON.stringify({ ...folders.config, eos_token_id: first }),
    'generation_config.json': JSON.stringify({ eos_token_id: first, ...settings }),
  });

beforeAll(async () => {
  folders = await tempConvertedFolders('edgetier-generation-min-', 'fp32', {
    ...SETTINGS_CHECKPOINT,
    generationConfig: false,
  });
  const plain = await nodeAnswer('onnxruntime', folders.built, {
    prompt: 'Once upon a time',
    sampling: { maxNewTokens: 1, ignoreEos: true },
  });
  first = plain.outputIds[0]!;
  promptTokens = plain.promptIds.length;
});

afterAll(async () => {
  await folders?.remove();
});

describe('without a minimum, the answer stops at its first token (the setup)', () => {
  it('both runtimes', async () => {
    const dir = variant('no-min', {});
    expect(await run('onnxruntime', dir)).toEqual({ ids: [first], finish: 'stop' });
    expect(await run('edgetier', dir)).toEqual({ ids: [first], finish: 'stop' });
  });
});

describe('the CPU engine applies the minimum as generate() does', () => {
  const cases: [string, () => Record<string, unknown>][] = [
    ['min_new_tokens 4', () => ({ min_new_tokens: 4 })],
    ['min_length of the prompt + 3', () => ({ min_length: promptTokens + 3 })],
    // Both: the longer wins.
    [
      'min_new_tokens 2 and min_length of the prompt + 5',
      () => ({ min_new_tokens: 2, min_length: promptTokens + 5 }),
    ],
    // A fraction: generate() compares lengths with <, so 2.5 new tokens means 3.
    ['min_new_tokens 2.5', () => ({ min_new_tokens: 2.5 })],
    // Shorter than the prompt: no effect.
    ['min_length under the prompt', () => ({ min_length: promptTokens - 1 })],
  ];
  it.each(cases)('%s: the same tokens as ORT', async (name, settings) => {
    const dir = variant(name.replace(/\W+/g, '-'), settings());
    const ort = await run('onnxruntime', dir);
    expect(await run('edgetier', dir)).toEqual(ort);
    // The minimum held EOS back (the answer did not stop at its first token), except under the prompt.
    if (name !== 'min_length under the prompt') expect(ort.ids.length).toBeGreaterThan(1);
    else expect(ort).toEqual({ ids: [first], finish: 'stop' });
  });

  it('sampled too: the first tokens before the minimum are never EOS', async () => {
    const dir = variant('sampled', { min_new_tokens: 5 });
    for (let i = 0; i < 3; i++) {
      const { ids } = await run('edgetier', dir, { temperature: 0.7 });
      expect(ids.length).toBeGreaterThanOrEqual(5);
      expect(ids.slice(0, 4)).not.toContain(first);
    }
  });
});

describe('what the engine reads and refuses', () => {
  it('off where generate() adds no step: null, 0, negative', () => {
    for (const value of [null, 0, -3]) {
      expect(generationDefaults({ min_length: value, min_new_tokens: value })).toMatchObject({
        minLength: 0,
        minNewTokens: 0,
      });
    }
    expect(generationDefaults({}, { min_length: 7 })).toMatchObject({ minLength: 7, minNewTokens: 0 });
  });

  it('a value that is not a number is refused by name', () => {
    expect(generationConfigRefusal({ min_new_tokens: '4' })).toBe(
      'generation_config.json sets min_new_tokens = "4"; edgetier\'s CPU engine takes a number only: run this model on onnxruntime.',
    );
    expect(generationConfigRefusal({}, { min_length: [3] })).toBe(
      "config.json sets min_length = [3]; edgetier's CPU engine takes a number only: run this model on onnxruntime.",
    );
  });
});
