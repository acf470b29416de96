/**
 * top_p on the onnxruntime path (transformers.js 4.3.1 never applies it by itself): the nucleus is
 * applied by edgetier's logits processor, after temperature and within the top-k tokens, as
 * edgetier's CPU sampler does. A real tiny model converted by edgetier, run on onnxruntime-node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { random, Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import type { ChatMessage, SamplingOptions } from '../../src/core/engine.ts';
import { loadModelSession, type ModelSession } from '../../src/runtime/model-session.ts';
import { NucleusLogitsProcessor } from '../../src/runtime/transformers-generator.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

let root: string;
let session: ModelSession;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-top-p-'));
  const checkpoint = join(root, 'checkpoint');
  const modelDir = join(root, 'model');
  // Untied, with strong layers: the continuation varies instead of echoing one token.
  await makeCheckpoint(checkpoint, { family: 'llama', tied: false, seed: 21, linearScale: 3 });
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await convertCommand.run([checkpoint, '--out', modelDir, '--dtype', 'fp32']);
  } finally {
    process.stderr.write = write;
  }
  session = await loadModelSession({ model: modelDir, dtype: 'fp32', device: 'cpu' });
});

afterAll(async () => {
  await session?.dispose();
  await rm(root, { recursive: true, force: true });
});

const question: ChatMessage = { role: 'user', content: 'Tell me a short story about a lighthouse keeper.' };

async function run(sampling: SamplingOptions, seed?: number): Promise<number[]> {
  session.resetConversation();
  if (seed !== undefined) random.seed(seed);
  const result = await session.generate({
    messages: [question],
    sampling: { maxNewTokens: 16, ignoreEos: true, ...sampling },
  });
  return result.outputIds;
}

describe('top_p on onnxruntime', () => {
  it('a top_p that keeps only the most likely token gives the greedy tokens, even at a high temperature', async () => {
    const greedy = await run({ temperature: 0 });
    expect(new Set(greedy).size).toBeGreaterThan(3);
    for (const seed of [1, 2, 3, 4]) {
      // Top-k 50 at temperature 20: the first token weighs 1 of at most 50, above 0.001 of the total.
      expect(await run({ temperature: 20, topP: 0.001 }, seed)).toEqual(greedy);
    }
  });

  it('top_p 1 samples as before: the same draws as no top_p, and not the greedy tokens', async () => {
    const greedy = await run({ temperature: 0 });
    const unset = await run({ temperature: 20 }, 5);
    const one = await run({ temperature: 20, topP: 1 }, 5);
    expect(one).toEqual(unset);
    expect(one).not.toEqual(greedy);
  });
});

describe('NucleusLogitsProcessor', () => {
  it('keeps the nucleus of the top-k tokens (after temperature) and masks every other logit', () => {
    // Weights exp(logit - max): 1, 0.5, 0.25, 0.25 (ids 3, 0, 1, 2), then 1/64 for id 4.
    const logits = [Math.log(0.5), Math.log(0.25), Math.log(0.25), 0, Math.log(1 / 64)];
    const masked = (topK: number, topP: number) => {
      const tensor = new Tensor('float32', Float32Array.from(logits), [1, logits.length]);
      const out = new NucleusLogitsProcessor(topK, topP)([[0n]], tensor) as Tensor;
      return Array.from(out.data as Float32Array, (v) => (v === Number.NEGATIVE_INFINITY ? null : 1));
    };
    // Over all 5: total 2.015625; 0.7 of it (1.411) needs ids 3 and 0 (1.5).
    expect(masked(0, 0.7)).toEqual([1, null, null, 1, null]);
    // Over the top 2 only: total 1.5; 0.7 of it (1.05) still needs both.
    expect(masked(2, 0.7)).toEqual([1, null, null, 1, null]);
    // 0.6 of the top 2 (0.9) needs only id 3; 0.6 of all 5 (1.209) would need id 0 too.
    expect(masked(2, 0.6)).toEqual([null, null, null, 1, null]);
    expect(masked(0, 0.6)).toEqual([1, null, null, 1, null]);
    // The kept logits themselves are left as they were.
    const tensor = new Tensor('float32', Float32Array.from(logits), [1, logits.length]);
    const out = new NucleusLogitsProcessor(0, 0.9)([[0n]], tensor) as Tensor;
    expect(Array.from(out.data as Float32Array)).toEqual([
      Math.fround(Math.log(0.5)),
      Math.fround(Math.log(0.25)),
      Math.fround(Math.log(0.25)),
      0,
      Number.NEGATIVE_INFINITY,
    ]);
  });
});
