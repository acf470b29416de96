/**
 * The model's generation settings as transformers.js's generate() reads them: generation_config.json's,
 * then config.json's where that file does not set them (or is absent). The CPU engine read only
 * generation_config.json, so a config.json top_k, repetition_penalty or no_repeat_ngram_size changed
 * ORT's answer and not the engine's; ORT's own top-p path read a config.json top_k null as 50. Found
 * by a hostile review; each test failed before its fix. Through NodeEngine on a converted tiny llama.
 */
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingOptions } from '../../src/core/engine.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import {
  SETTINGS_CHECKPOINT,
  type TempConvertedFolders,
  tempConvertedFolders,
} from '../helpers/converted-folders.ts';
import { nodeAnswer } from '../helpers/node-answer.ts';

const PROMPT = 'The quick brown fox jumps over the lazy dog. Once upon a time';
let folders: TempConvertedFolders;

beforeAll(async () => {
  folders = await tempConvertedFolders('edgetier-generation-settings-', 'fp32', SETTINGS_CHECKPOINT);
}, 600_000);
afterAll(async () => {
  await folders?.remove();
});

let n = 0;
/**
 * A copy of the folder: `gen` replaces generation_config.json (null: deleted; undefined: kept), `cfg`
 * is merged into config.json.
 */
function variant(gen: Record<string, unknown> | null | undefined, cfg: Record<string, unknown> = {}): string {
  const files: Record<string, string | null> = {
    'config.json': JSON.stringify({ ...folders.config, ...cfg }),
  };
  if (gen === null) files['generation_config.json'] = null;
  else if (gen !== undefined)
    files['generation_config.json'] = JSON.stringify({
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 0,
      ...gen,
    });
  return folders.folder(String(n++), files);
}

async function ids(
  runtime: 'edgetier' | 'onnxruntime',
  dir: string,
  sampling: SamplingOptions,
): Promise<number[]> {
  const r = await nodeAnswer(runtime, dir, {
    prompt: PROMPT,
    sampling: { maxNewTokens: 16, ignoreEos: true, ...sampling },
    seed: 7,
  });
  return r.outputIds;
}

const HOT = { temperature: 50 };

describe('the request topK wins over the file top_k (both runtimes)', () => {
  it.each(['edgetier', 'onnxruntime'] as const)(
    '%s',
    async (rt) => {
      const greedy = await ids(rt, variant({}), {});
      // file top_k 1 → greedy; request topK 0 must undo it
      expect(await ids(rt, variant({ top_k: 1 }), HOT)).toEqual(greedy);
      expect(await ids(rt, variant({ top_k: 1 }), { ...HOT, topK: 0 })).not.toEqual(greedy);
      expect(await ids(rt, variant({ top_k: 1 }), { ...HOT, topK: 0, topP: 0.9999 })).not.toEqual(greedy);
      for (const file of [null, 0, 50]) {
        expect(await ids(rt, variant({ top_k: file }), { ...HOT, topK: 1 })).toEqual(greedy);
        expect(await ids(rt, variant({ top_k: file }), { ...HOT, topK: 1, topP: 0.5 })).toEqual(greedy);
      }
    },
    300_000,
  );
});

describe("config.json's sampling defaults when generation_config.json lacks them", () => {
  // transformers.js's generate() builds its GenerationConfig from config.json first, then assigns
  // generation_config.json over it: config.json's top_k/repetition_penalty apply on ORT.
  it.each([
    ['generation_config.json without top_k', {}],
    ['no generation_config.json at all', null],
  ] as const)(
    'config.json top_k 1 (%s): both runtimes sample greedily',
    async (_, gen) => {
      const dir = variant(gen, { top_k: 1 });
      const greedy = await ids('onnxruntime', dir, {});
      expect(await ids('onnxruntime', dir, HOT)).toEqual(greedy);
      // The CPU engine sampled from its default 50.
      expect(await ids('edgetier', dir, HOT)).toEqual(greedy);
    },
    300_000,
  );

  it('config.json repetition_penalty 5: both runtimes give the same greedy tokens', async () => {
    const plain = variant({});
    expect(await ids('edgetier', plain, {})).toEqual(await ids('onnxruntime', plain, {}));
    const dir = variant({}, { repetition_penalty: 5 });
    expect(await ids('edgetier', dir, {})).toEqual(await ids('onnxruntime', dir, {}));
  }, 300_000);

  it('config.json top_k null, generation_config.json without top_k: ORT top-p path reads it as 0 like its sampler does', async () => {
    const configNull = variant({}, { top_k: null });
    const fileZero = variant({ top_k: 0 });
    const fifty = variant({ top_k: 50 });
    // at top-p 1 generate() reads config.json's null as no top-k:
    expect(await ids('onnxruntime', configNull, { ...HOT, topP: 1 })).toEqual(
      await ids('onnxruntime', fileZero, { ...HOT, topP: 1 }),
    );
    // at top-p < 1 defaultTopK skips the null and gives 50:
    const p = { ...HOT, topP: 0.999999 };
    const got = await ids('onnxruntime', configNull, p);
    expect(got).not.toEqual(await ids('onnxruntime', fifty, p));
    expect(got).toEqual(await ids('onnxruntime', fileZero, p));
  }, 300_000);
});

describe('config.json fields the CPU engine refuses in generation_config.json', () => {
  it('no_repeat_ngram_size 1 in config.json: refused by name, as in generation_config.json', async () => {
    const refusal = async (dir: string) => {
      const error = await ids('edgetier', dir, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EdgetierError);
      expect((error as EdgetierError).code).toBe('unsupported_architecture');
      return (error as EdgetierError).message;
    };
    const suffix =
      "sets no_repeat_ngram_size = 1, which edgetier's CPU engine does not implement: run this model on onnxruntime.";
    expect(await refusal(variant({ no_repeat_ngram_size: 1 }))).toBe(`generation_config.json ${suffix}`);
    const inConfig = variant({}, { no_repeat_ngram_size: 1 });
    // ORT applies it: no token repeats.
    const ort = await ids('onnxruntime', inConfig, {});
    expect(new Set(ort).size).toBe(ort.length);
    expect(await refusal(inConfig)).toBe(`config.json ${suffix}`);
    // generation_config.json's own "off" value wins over config.json's, as generate() reads them.
    const off = variant({ no_repeat_ngram_size: 0 }, { no_repeat_ngram_size: 1 });
    expect(await ids('edgetier', off, {})).toEqual(await ids('onnxruntime', off, {}));
  }, 300_000);

  it("the model index and the engine's load say the same", async () => {
    const { modelIndex } = await import('../../src/server/model-index.ts');
    const parent = join(folders.root, 'index-check');
    mkdirSync(parent, { recursive: true });
    cpSync(variant(null, { top_k: 2.5 }), join(parent, 'config-top-k'), { recursive: true });
    const entry = (await modelIndex([parent])).models.find((m) => m.name === 'config-top-k');
    const error = await ids('edgetier', join(parent, 'config-top-k'), {}).catch((e: unknown) => e);
    expect((error as EdgetierError).message).toBe(
      "config.json sets top_k = 2.5; edgetier's CPU engine takes a whole number (0 or less keeps every token) only: run this model on onnxruntime.",
    );
    expect(entry?.cpuEngineRefusal).toBe((error as EdgetierError).message);
  }, 300_000);
});

describe('server: a request top_k 0 (no top-k), which the engines accept, over a file top_k', () => {
  it('top_k 0 is accepted; below 0 or fractional is refused by name', async () => {
    const { validateChatRequest } = await import('../../src/server/chat-request.ts');
    const request = (top_k: unknown) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], top_k });
    expect(validateChatRequest(request(0)).top_k).toBe(0);
    for (const bad of [-1, 2.5, '5']) {
      expect(() => validateChatRequest(request(bad))).toThrow(
        `'top_k' must be a whole number from 0 (0 keeps every token), got ${JSON.stringify(bad)}.`,
      );
    }
  });
});
