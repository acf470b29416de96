/** Weight layouts, graph I/O metadata and bad-input handling of the ONNX writer. */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { f16ToF32 } from '../../src/builder/half.ts';
import { q4RoundTrip, q8RoundTrip, quantizeQ4 } from '../../src/builder/quantize.ts';
import { MemoryWeights } from '../../src/builder/weights.ts';
import { writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { DTYPES } from '../../src/core/dtypes.ts';
import { memoryWeights, randomTensors, TINY_SPECS } from '../helpers/onnx-fixtures.ts';

describe('quantizers', () => {
  it('q4 keeps values that sit on the block grid, packs low nibble first, and pads short blocks', () => {
    // One row of 40 (a full block of 32 and a padded block of 8): multiples of 0.5 within [-4, 3.5].
    const row = Float32Array.from({ length: 40 }, (_, i) => ((i % 16) - 8) * 0.5);
    expect([...q4RoundTrip(row, 1, 40)]).toEqual([...row]);
    const q = quantizeQ4(row, 1, 40);
    expect(q.blocksPerRow).toBe(2);
    expect([...q.scales]).toEqual([0.5, 0.5]);
    expect(q.packed[0]).toBe(0x10); // codes 0 (-4) then 1 (-3.5)
    expect([...q.packed.subarray(20, 32)]).toEqual(Array(12).fill(0x88)); // padding decodes to 0
  });

  it('q4 and q8 round trips stay within half a step of the input', () => {
    const w = Float32Array.from({ length: 3 * 70 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
    const q4 = q4RoundTrip(w, 3, 70);
    const q8 = q8RoundTrip(w, 3, 70);
    for (let r = 0; r < 3; r++) {
      const rowMax = Math.max(...w.subarray(r * 70, r * 70 + 70).map(Math.abs));
      for (let c = 0; c < 70; c++) {
        const i = r * 70 + c;
        expect(Math.abs(q8[i]! - w[i]!)).toBeLessThanOrEqual(rowMax / 127 / 2 + 1e-6);
        // 4-bit: the positive side clips at 7/8 of the block's extreme.
        expect(Math.abs(q4[i]! - w[i]!)).toBeLessThanOrEqual(rowMax / 8 + 1e-6);
      }
    }
  });
});

describe('graph I/O', () => {
  it('declares the inputs and outputs transformers.js feeds, with onnx-community dim names', async () => {
    const spec = TINY_SPECS['qwen3 qk norm, head_dim 24']!;
    const dir = mkdtempSync(join(tmpdir(), 'edgetier-io-'));
    const { file, bytes } = await writeOnnxModel(spec, memoryWeights(randomTensors(spec)), 'q4f16', dir);
    expect(file).toBe(join(dir, 'onnx', 'model_q4f16.onnx'));
    expect(readdirSync(join(dir, 'onnx'))).toEqual(['model_q4f16.onnx']);
    const session = await ort.InferenceSession.create(file);
    expect(bytes).toBeGreaterThan(0);
    const meta = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
      m.map((x) => (x.isTensor ? [x.name, x.type, x.shape] : [x.name]));
    expect(meta(session.inputMetadata)).toEqual([
      ['input_ids', 'int64', ['batch_size', 'sequence_length']],
      ['attention_mask', 'int64', ['batch_size', 'total_sequence_length']],
      ['position_ids', 'int64', ['batch_size', 'sequence_length']],
      ['past_key_values.0.key', 'float16', ['batch_size', 1, 'past_sequence_length', 24]],
      ['past_key_values.0.value', 'float16', ['batch_size', 1, 'past_sequence_length', 24]],
      ['past_key_values.1.key', 'float16', ['batch_size', 1, 'past_sequence_length', 24]],
      ['past_key_values.1.value', 'float16', ['batch_size', 1, 'past_sequence_length', 24]],
      ['num_logits_to_keep', 'int64', []],
    ]);
    expect(meta(session.outputMetadata)).toEqual([
      ['logits', 'float16', ['batch_size', 'num_logits', 300]],
      ['present.0.key', 'float16', ['batch_size', 1, 'total_sequence_length', 24]],
      ['present.0.value', 'float16', ['batch_size', 1, 'total_sequence_length', 24]],
      ['present.1.key', 'float16', ['batch_size', 1, 'total_sequence_length', 24]],
      ['present.1.value', 'float16', ['batch_size', 1, 'total_sequence_length', 24]],
    ]);
  });
});

describe("onnxruntime-web's WASM build (what browsers without WebGPU run)", () => {
  const spec = TINY_SPECS['qwen3 qk norm, head_dim 24']!;
  const tensors = randomTensors(spec, 5);
  ortWeb.env.wasm.numThreads = 1;

  it.each(DTYPES)('%s runs every op and agrees with onnxruntime-node', async (dtype) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetier-wasm-'));
    const { file } = await writeOnnxModel(spec, memoryWeights(tensors), dtype, dir);
    const half = dtype === 'fp16' || dtype === 'q4f16';
    const feeds = (T: typeof ort.Tensor | typeof ortWeb.Tensor) => {
      const f: Record<string, ort.Tensor | ortWeb.Tensor> = {
        input_ids: new T('int64', BigInt64Array.from([5n, 6n, 7n]), [1, 3]),
        attention_mask: new T('int64', BigInt64Array.from([1n, 1n, 1n]), [1, 3]),
        position_ids: new T('int64', BigInt64Array.from([0n, 1n, 2n]), [1, 3]),
        num_logits_to_keep: new T('int64', BigInt64Array.from([0n]), []),
      };
      for (let i = 0; i < spec.numLayers; i++) {
        for (const kv of ['key', 'value']) {
          f[`past_key_values.${i}.${kv}`] = half
            ? new T('float16', new Uint16Array(0), [1, spec.numKvHeads, 0, spec.headDim])
            : new T('float32', new Float32Array(0), [1, spec.numKvHeads, 0, spec.headDim]);
        }
      }
      return f;
    };
    const asF32 = (t: { type: string; data: unknown }) =>
      t.type === 'float16' ? f16ToF32(new Uint16Array(t.data as Uint16Array)) : (t.data as Float32Array);
    const web = await ortWeb.InferenceSession.create(readFileSync(file), { executionProviders: ['wasm'] });
    const native = await ort.InferenceSession.create(file);
    const a = asF32((await web.run(feeds(ortWeb.Tensor) as Record<string, ortWeb.Tensor>)).logits!);
    const b = asF32((await native.run(feeds(ort.Tensor) as Record<string, ort.Tensor>)).logits!);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < b.length; i++) {
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(b[i]!));
    }
    // Native q4 quantises activations to int8 (accuracy_level 4); the WASM kernel stays in float.
    expect(diff).toBeLessThanOrEqual(
      (dtype.startsWith('q4') ? 5e-2 : dtype === 'fp16' ? 5e-3 : 1e-5) * scale,
    );
    await web.release();
  });
});

describe('bad input', () => {
  const spec = TINY_SPECS['qwen2 with bias']!;

  it('names a missing tensor and writes nothing', async () => {
    const tensors = randomTensors(spec);
    tensors.delete('model.layers.1.self_attn.k_proj.bias');
    const dir = mkdtempSync(join(tmpdir(), 'edgetier-bad-'));
    await expect(writeOnnxModel(spec, new MemoryWeights(tensors), 'fp32', dir)).rejects.toMatchObject({
      code: 'weights_missing',
      message:
        'The checkpoint has no tensor model.layers.1.self_attn.k_proj.bias, which a qwen2 model with this config needs.',
    });
    expect(existsSync(join(dir, 'onnx'))).toBe(false);
  });

  it('names a tensor whose shape disagrees with the config', async () => {
    const tensors = randomTensors(spec);
    tensors.set('model.norm.weight', { shape: [65], data: new Float32Array(65) });
    const dir = mkdtempSync(join(tmpdir(), 'edgetier-bad-'));
    await expect(writeOnnxModel(spec, new MemoryWeights(tensors), 'q4', dir)).rejects.toMatchObject({
      code: 'shape_mismatch',
      message: 'model.norm.weight has shape [65] but config.json implies [64].',
    });
  });

  it('leaves no temp file behind when reading a weight fails midway', async () => {
    const tensors = randomTensors(spec);
    const weights = new MemoryWeights(tensors);
    const failing = Object.assign(Object.create(weights), {
      read: async (name: string) => {
        if (name === 'model.layers.1.mlp.up_proj.weight') throw new Error('disk went away');
        return weights.read(name);
      },
    }) as MemoryWeights;
    const dir = mkdtempSync(join(tmpdir(), 'edgetier-bad-'));
    await expect(writeOnnxModel(spec, failing, 'fp32', dir)).rejects.toMatchObject({ code: 'io_error' });
    expect(readdirSync(join(dir, 'onnx'))).toEqual([]);
  });
});
