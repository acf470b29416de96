/**
 * eos_token_id read as transformers.js's generate() reads it (eosTokenIds): a generation_config.json
 * null is no EOS at all, not config.json's; one in config.json's text_config counts. Both runtimes
 * read it by `??` on the top level, so the CPU engine stopped (and, under ignoreEos, suppressed) at an
 * EOS generate() does not have, and the ORT path called a stop at text_config's EOS `length`. Found by
 * a hostile review; each test failed before its fix. Through NodeEngine on a converted tiny llama.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingOptions } from '../../src/core/engine.ts';
import {
  SETTINGS_CHECKPOINT,
  type TempConvertedFolders,
  tempConvertedFolders,
} from '../helpers/converted-folders.ts';
import { nodeAnswer } from '../helpers/node-answer.ts';

let folders: TempConvertedFolders;
/** The token the model emits first after the prompt (greedy). */
let first: number;

async function run(runtime: 'edgetier' | 'onnxruntime', dir: string, sampling: SamplingOptions) {
  const r = await nodeAnswer(runtime, dir, {
    prompt: 'Once upon a time',
    sampling: { maxNewTokens: 8, ...sampling },
  });
  return { ids: r.outputIds, finish: r.finishReason };
}

/** A copy of the model folder with config.json's fields merged in and generation_config.json replaced. */
const variant = (name: string, config: Record<string, unknown>, generation: Record<string, unknown>) =>
  folders.folder(name, {
    'config.json': JSON.stringify({ ...folders.config, ...config }),
    'generation_config.json': JSON.stringify(generation),
  });

beforeAll(async () => {
  folders = await tempConvertedFolders('edgetier-generation-eos-', 'fp32', {
    ...SETTINGS_CHECKPOINT,
    generationConfig: false,
  });
  first = (await run('onnxruntime', folders.built, { ignoreEos: true })).ids[0]!;
});

afterAll(async () => {
  await folders?.remove();
});

describe("generation_config.json's eos_token_id null: no EOS, on both runtimes", () => {
  it("the CPU engine does not stop at config.json's EOS, as generate() does not", async () => {
    const dir = variant('eos-null', { eos_token_id: first }, { eos_token_id: null });
    const ort = await run('onnxruntime', dir, {});
    expect(ort).toEqual({ ids: expect.any(Array), finish: 'length' });
    expect(ort.ids).toHaveLength(8);
    expect(await run('edgetier', dir, {})).toEqual(ort);
  });

  it('under ignoreEos there is nothing to suppress: the same tokens as ORT', async () => {
    const dir = variant('eos-null-ignore', { eos_token_id: first }, { eos_token_id: null });
    const ort = await run('onnxruntime', dir, { ignoreEos: true });
    expect(ort.ids[0]).toBe(first);
    expect((await run('edgetier', dir, { ignoreEos: true })).ids).toEqual(ort.ids);
  });
});

describe("config.json's text_config eos_token_id", () => {
  it('ends the answer on the ORT path with finish reason stop, as generate() stops there', async () => {
    const dir = variant('eos-text-config', { text_config: { eos_token_id: first } }, {});
    expect(await run('onnxruntime', dir, {})).toEqual({ ids: [first], finish: 'stop' });
  });

  it('is refused by name on the CPU engine (a text_config block is not a llama field it knows)', async () => {
    const dir = variant('eos-text-config-cpu', { text_config: { eos_token_id: first } }, {});
    const error = await run('edgetier', dir, {}).catch(
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error).toMatchObject({ code: 'unsupported_architecture' });
    expect((error as { message: string }).message).toMatch(
      /^config\.json: text_config is not a field edgetier knows for llama/,
    );
  });
});
