/**
 * int8 activations at the decoder level for every tiny family (from a hostile review): relaxed build
 * against SIMD128 build, chunked prefill against token by token, truncate and re-run, two threads.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { CpuDecoder } from '../../src/cpu-engine/decoder.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import { memoryWeights, randomTensors, TINY_SPECS } from '../helpers/onnx-fixtures.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-int8-families-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('int8 activations, decoder level, every tiny family', () => {
  for (const [name, spec] of Object.entries(TINY_SPECS)) {
    it(`${name}: relaxed = SIMD128 = relaxed on 2 threads; chunked = stepwise; truncate + rerun`, async () => {
      const { file } = await writeOnnxModel(
        spec,
        memoryWeights(randomTensors(spec, 5)),
        'q4',
        join(root, name.replace(/\W/g, '_')),
      );
      const onnx = await readFile(file);
      const config = specToHfConfig(spec);
      const prompt = Array.from({ length: 41 }, (_, i) => (i * 37 + 3) % spec.vocabSize);
      const plain = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, false));
      const fast = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, true));
      const step = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(false, true));
      const threaded = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(true, true), {
        threads: 2,
        spawn: nodeKernelThreadSpawner,
        pool: { minSplitWork: 0, minAttentionWork: 0 },
      });
      // The pool's defaults: a tiny model's GEMMs run on the calling thread (gemmQ4I8, not the Rows job).
      const local = await CpuDecoder.fromFiles(config, onnx, 'q4', await kernelModule(true, true), {
        threads: 2,
        spawn: nodeKernelThreadSpawner,
      });
      try {
        expect(fast.q4Activations).toBe('int8 relaxed');
        expect(plain.q4Activations).toBe('int8');
        const want = Array.from(plain.forward(prompt));
        expect(Array.from(fast.forward(prompt))).toEqual(want);
        expect(Array.from(threaded.forward(prompt))).toEqual(want);
        expect(Array.from(local.forward(prompt))).toEqual(want);
        expect(local.pool?.local).toBeGreaterThan(0);
        let last: Float32Array | null = null;
        for (const id of prompt) last = step.forward([id]);
        expect(Array.from(last!)).toEqual(want);
        // Truncate into the middle of a tile and re-run the tail as one chunk.
        fast.truncate(13);
        expect(Array.from(fast.forward(prompt.slice(13)))).toEqual(want);
        threaded.truncate(30);
        expect(Array.from(threaded.forward(prompt.slice(30)))).toEqual(want);
      } finally {
        await threaded.dispose();
        await local.dispose();
      }
    });
  }
});
