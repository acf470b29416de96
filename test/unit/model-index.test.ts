/** /models/index.json publishes each file's size and SHA-256; hashes are recomputed only when a file changes. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generationDefaults } from '../../src/cpu-engine/cpu-generator.ts';
import { modelIndex } from '../../src/server/model-index.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-model-index-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('modelIndex', () => {
  it('lists size and SHA-256 per file, and a rebuilt file gets its new hash', async () => {
    const folder = join(root, 'm');
    mkdirSync(join(folder, 'onnx'), { recursive: true });
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ model_type: 'x' }));
    const onnx = join(folder, 'onnx/model.onnx');
    writeFileSync(onnx, Buffer.alloc(5000, 1));
    const first = (await modelIndex([root])).models[0]!;
    expect(first.files).toEqual([
      { path: 'config.json', bytes: 18, sha256: sha(join(folder, 'config.json')) },
      { path: 'onnx/model.onnx', bytes: 5000, sha256: sha(onnx) },
    ]);
    // Same size, new bytes, a later mtime: the cached hash must not be reused.
    writeFileSync(onnx, Buffer.alloc(5000, 2));
    utimesSync(onnx, new Date(), new Date(Date.now() + 5000));
    const second = (await modelIndex([root])).models[0]!;
    expect(second.files[1]).toEqual({ path: 'onnx/model.onnx', bytes: 5000, sha256: sha(onnx) });
    expect(second.files[1]!.sha256).not.toBe(first.files[1]!.sha256);
  });

  it("publishes each folder's shape with its attention biases and sliding window (the catalog's KV cache estimate reads them)", async () => {
    const base = {
      hidden_act: 'silu',
      hidden_size: 64,
      intermediate_size: 128,
      max_position_embeddings: 512,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      tie_word_embeddings: true,
      vocab_size: 300,
    };
    const dir = join(root, 'shapes');
    for (const [name, config] of [
      ['q', { ...base, model_type: 'qwen2' }],
      ['l', { ...base, model_type: 'llama', attention_bias: false }],
    ] as const) {
      mkdirSync(join(dir, name, 'onnx'), { recursive: true });
      writeFileSync(join(dir, name, 'config.json'), JSON.stringify(config));
      writeFileSync(join(dir, name, 'onnx/model.onnx'), Buffer.alloc(10, 1));
    }
    const models = (await modelIndex([dir])).models;
    const shape = (name: string) => models.find((m) => m.name === name)?.shape;
    expect(shape('q')).toEqual({
      layers: 2,
      kvHeads: 2,
      headDim: 16,
      hiddenSize: 64,
      vocabSize: 300,
      attentionBias: true,
      slidingWindow: false,
    });
    expect(shape('l')).toEqual({
      layers: 2,
      kvHeads: 2,
      headDim: 16,
      hiddenSize: 64,
      vocabSize: 300,
      attentionBias: false,
      slidingWindow: false,
    });
  });

  it("publishes the CPU engine's refusal of a folder's generation_config.json, in the engine's own words", async () => {
    const base = {
      model_type: 'llama',
      hidden_act: 'silu',
      hidden_size: 64,
      intermediate_size: 128,
      max_position_embeddings: 512,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      tie_word_embeddings: true,
      vocab_size: 300,
    };
    const dir = join(root, 'generation');
    const cases: [string, unknown][] = [
      ['beams', { num_beams: 4 }],
      ['off', { num_beams: 1, no_repeat_ngram_size: 0, bad_words_ids: null }],
      ['broken', '{not json'],
      ['none', undefined],
    ];
    for (const [name, generation] of cases) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'config.json'), JSON.stringify(base));
      if (generation !== undefined)
        writeFileSync(
          join(dir, name, 'generation_config.json'),
          typeof generation === 'string' ? generation : JSON.stringify(generation),
        );
    }
    const models = (await modelIndex([dir])).models;
    const refusal = (name: string) => models.find((m) => m.name === name)?.cpuEngineRefusal;
    let engine = '';
    try {
      generationDefaults({ num_beams: 4 });
    } catch (error) {
      engine = (error as Error).message;
    }
    expect(refusal('beams')).toBe(
      "generation_config.json sets num_beams = 4, which edgetier's CPU engine does not implement: run this model on onnxruntime.",
    );
    expect(refusal('beams')).toBe(engine);
    // Fields set to their "off" values, an unreadable file (the engine's load reports it) and none.
    expect(refusal('off')).toBeUndefined();
    expect(refusal('broken')).toBeUndefined();
    expect(refusal('none')).toBeUndefined();
  });
});
