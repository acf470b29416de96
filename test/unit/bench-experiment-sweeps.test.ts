/**
 * The platform-free halves of the browser experiments (bench/experiments/attention-pool-sweep.ts,
 * depth-step-sweep.ts), run in Node over the engine's real kernels, thread pool and a converted
 * tiny model: every setting their scripts' headers offer sets up.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionPoolSweep } from '../../bench/experiments/attention-pool-sweep.ts';
import { depthSteps } from '../../bench/experiments/depth-step-sweep.ts';
import type { HfConfig } from '../../src/builder/hf-config.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';
import { convertQuietly } from '../helpers/converted-folders.ts';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-bench-sweeps-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('attention-pool-sweep: the pool rows attend over the context the one-thread row does', () => {
  // The one-thread row calls attentionI8 over `context` positions; a pool row must give the pool
  // t0 = context (the positions its one query sees, as the decoder's pos0 + 1). It gives context - 1,
  // so at a context of 1 the pool refuses t0 = 0 (and at 2000 it times 1999 positions against 2000).
  it.each([1, 2])('%i thread(s), a context of 1 position', async (threads) => {
    const module = await kernelModule(true);
    const sweep = await attentionPoolSweep(module, nodeKernelThreadSpawner, {
      threads,
      context: 1,
      layers: 1,
      heads: 2,
      kvHeads: 1,
      d: 16,
      reps: 1,
    });
    expect(sweep().times).toHaveLength(1);
  });
});

describe('depth-step-sweep: --dtype q8 (the header offers q4 and q8)', () => {
  it.each(['q4', 'q8'] as const)('%s: decoders at depth 22 are set up and step', async (dtype) => {
    const checkpoint = join(root, `checkpoint-${dtype}`);
    const out = join(root, `onnx-${dtype}`);
    // The sweep's tokens are 500 and up: a vocabulary of 1024.
    await makeCheckpoint(checkpoint, { family: 'llama', vocabSize: 1024, maxPositionEmbeddings: 512 });
    await convertQuietly(checkpoint, out, dtype);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as HfConfig;
    const onnx = await readFile(join(out, 'onnx', dtype === 'q4' ? 'model_q4.onnx' : 'model_quantized.onnx'));
    const run = await depthSteps(config, onnx, await kernelModule(false), undefined, {
      dtype,
      threads: 1,
      depths: [22],
      steps: 1,
      rounds: 1,
    });
    expect(run()[22]).toHaveLength(1);
  });
});
