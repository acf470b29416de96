import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsWeights, writeSafetensors } from '../../src/builder/safetensors.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'edgetier-st-'));

describe('safetensors', () => {
  it('round-trips F32 and BF16 tensors', async () => {
    const d = dir();
    const a = { name: 'a', shape: [2, 3], data: new Float32Array([1, 2, 3, -4, 0.5, 0]) };
    await writeSafetensors(join(d, 'f32.safetensors'), [a]);
    await writeSafetensors(join(d, 'bf16.safetensors'), [a], 'BF16');
    for (const f of ['f32', 'bf16']) {
      const w = await SafetensorsWeights.openFile(join(d, `${f}.safetensors`));
      expect(w.names()).toEqual(['a']);
      expect(w.shape('a')).toEqual([2, 3]);
      expect([...(await w.read('a'))]).toEqual([1, 2, 3, -4, 0.5, 0]);
    }
  });

  it('refuses a truncated file, naming the tensor', async () => {
    const d = dir();
    const file = join(d, 'model.safetensors');
    await writeSafetensors(file, [{ name: 'w', shape: [64], data: new Float32Array(64) }]);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    await expect(SafetensorsWeights.openDir(d)).rejects.toThrow(
      /^model\.safetensors is not a valid safetensors file: w ends at byte \d+ but the file has \d+ \(truncated\?\)/,
    );
  });

  it('refuses garbage and reports a missing shard', async () => {
    const d = dir();
    writeFileSync(join(d, 'model.safetensors'), 'not a safetensors file at all');
    await expect(SafetensorsWeights.openDir(d)).rejects.toMatchObject({ code: 'weights_corrupt' });
    const s = dir();
    writeFileSync(
      join(s, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { w: 'model-00001-of-00002.safetensors' } }),
    );
    await expect(SafetensorsWeights.openDir(s)).rejects.toThrow(
      'model.safetensors.index.json lists model-00001-of-00002.safetensors, which is not in',
    );
  });
});
