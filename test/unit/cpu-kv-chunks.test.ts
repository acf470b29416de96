/**
 * The int8 KV cache's 512-position chunks, under a hostile review's cases: contexts around the chunk
 * boundaries up to exactly max_position_embeddings (not a multiple of 512), head sizes 16/80/128/256,
 * Qwen3, tied/untied; prefill pieces straddling a cache chunk; cut-backs across 512; threads 2 and 3
 * against 1 with odd chunk sizes; the float32 cache; the memory estimate against the decoder's growth.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuEngineKvCacheBytes } from '../../src/core/kv-cache.ts';
import type { CpuDecoder, CpuDecoderOptions } from '../../src/cpu-engine/decoder.ts';
import { loadCpuDecoder } from '../../src/cpu-engine/node-session.ts';
import { type CheckpointOptions, makeCheckpoint } from '../helpers/checkpoints.ts';
import { convertQuietly } from '../helpers/converted-folders.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-kv-chunks-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function model(name: string, options: CheckpointOptions, dtype = 'q4'): Promise<string> {
  const checkpoint = join(root, `${name}-ckpt`);
  const out = join(root, name);
  await makeCheckpoint(checkpoint, options);
  await convertQuietly(checkpoint, out, dtype);
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const MAX = 1025;
const PROMPT = Array.from({ length: MAX }, (_, i) => (i * 53 + 7) % 384);
const LENGTHS = [1, 7, 8, 9, 511, 512, 513, 1023, 1024, 1025];

const SHAPES: [string, CheckpointOptions][] = [
  ['llama d16 untied', { family: 'llama', tied: false, seed: 3, maxPositionEmbeddings: MAX }],
  ['llama d80 tied', { family: 'llama', tied: true, seed: 4, headDim: 80, maxPositionEmbeddings: MAX }],
  ['qwen3 d128 untied', { family: 'qwen3', tied: false, seed: 5, headDim: 128, maxPositionEmbeddings: MAX }],
  [
    'llama d256 untied 1 kv head',
    {
      family: 'llama',
      tied: false,
      seed: 6,
      headDim: 256,
      numKvHeads: 1,
      numLayers: 1,
      maxPositionEmbeddings: MAX,
    },
  ],
];

describe.each(SHAPES)('int8 cache, 512-position chunks: %s', (name, options) => {
  let dir: string;
  beforeAll(async () => {
    dir = await model(name.replace(/ /g, '-'), options);
  });

  it('pieces straddling 512/1024, cut-backs across 512, up to max_position_embeddings: bit for bit against fresh runs', async () => {
    const d = await loadCpuDecoder(dir, 'q4');
    expect(d.kvCache).toBe('int8');
    expect(d.chunkPositions).toBe(512);
    // Pieces ending at each length of LENGTHS (prefill chunks of 32 straddle the cache chunk).
    const at = new Map<number, Float32Array>();
    let done = 0;
    for (const end of LENGTHS) {
      at.set(end, d.forward(PROMPT.slice(done, end)));
      done = end;
    }
    expect(d.length).toBe(MAX);
    expect(() => d.forward([1])).toThrow(/1026 tokens, more than/);
    for (const L of LENGTHS) {
      const fresh = await loadCpuDecoder(dir, 'q4');
      expect(bits(fresh.forward(PROMPT.slice(0, L))), `fresh ${L}`).toEqual(bits(at.get(L)!));
    }
    // Cut back to 511/512/513 (and 1023/1024), then continue with other tokens: as a fresh run.
    let seq = PROMPT.slice();
    for (const cut of [511, 512, 513, 1023, 1024, 0]) {
      d.truncate(cut);
      const more = Array.from({ length: MAX - cut }, (_, i) => (i * 17 + cut) % 384);
      const got = d.forward(more);
      seq = [...seq.slice(0, cut), ...more];
      const fresh = await loadCpuDecoder(dir, 'q4');
      expect(bits(got), `cut ${cut}`).toEqual(bits(fresh.forward(seq)));
    }
  }, 600_000);
});

describe('threads against one thread, int8 and float32 caches, odd chunk sizes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await model('threads', {
      family: 'qwen3',
      tied: false,
      seed: 9,
      numHeads: 6,
      numKvHeads: 2,
      maxPositionEmbeddings: 1100,
    });
  });
  const prompt = PROMPT.slice(0, 1050);
  async function run(options: CpuDecoderOptions): Promise<number[][]> {
    const d: CpuDecoder = await loadCpuDecoder(dir, 'q4', {
      ...options,
      pool: { minAttentionWork: 0, minSplitWork: 0, attentionHeadsPerUnit: options.threads === 3 ? 1 : 0 },
    });
    try {
      expect(d.threads).toBe(options.threads ?? 1);
      const out = [bits(d.forward(prompt.slice(0, 513)))];
      out.push(bits(d.forward(prompt.slice(513, 1030))));
      d.truncate(511);
      out.push(bits(d.forward([5, 6, 7])));
      for (let i = 0; i < 3; i++) out.push(bits(d.forward([100 + i])));
      return out;
    } finally {
      await d.dispose();
    }
  }
  for (const kvCache of ['int8', 'float32'] as const)
    for (const kvChunkPositions of [undefined, 8, 24, 512, 4096]) {
      it(`${kvCache}, chunks of ${kvChunkPositions ?? 'default'}: 2 and 3 threads bit for bit as 1`, async () => {
        const one = await run({ kvCache, kvChunkPositions });
        expect(await run({ kvCache, kvChunkPositions, threads: 2 })).toEqual(one);
        expect(await run({ kvCache, kvChunkPositions, threads: 3 })).toEqual(one);
      }, 600_000);
    }
});

describe('memory', () => {
  it("the float32 cache keeps 64-position chunks; the decoder's growth is the catalog's estimate, page-rounded", async () => {
    const shape = { layers: 2, kvHeads: 2, headDim: 16 };
    const dir = await model('mem', { family: 'llama', tied: false, seed: 11, maxPositionEmbeddings: 1100 });
    for (const kvCache of ['int8', 'float32'] as const) {
      const d = await loadCpuDecoder(dir, 'q4', { kvCache });
      expect(d.chunkPositions).toBe(kvCache === 'int8' ? 512 : 64);
      const base = (d as unknown as { cacheBase: number }).cacheBase;
      for (const L of [1, 64, 65, 511, 512, 513, 1024, 1025]) {
        d.forward(PROMPT.slice(d.length, L));
        const cache = d.memoryBytes - base;
        const estimate = cpuEngineKvCacheBytes(shape, L, kvCache);
        expect(cache, `${kvCache} ${L}`).toBeGreaterThanOrEqual(estimate);
        expect(cache, `${kvCache} ${L}`).toBeLessThan(estimate + 65536);
      }
    }
  }, 300_000);

  it('max_position_embeddings of exactly 512, and maxContext 700 (not a multiple of 512): filled to the end, then refused', async () => {
    const dir = await model('max512', { family: 'llama', tied: true, seed: 12, maxPositionEmbeddings: 512 });
    const d = await loadCpuDecoder(dir, 'q4');
    const a = d.forward(PROMPT.slice(0, 512));
    expect(() => d.forward([1])).toThrow(/513 tokens, more than this model's 512/);
    d.truncate(511);
    expect(bits(d.forward([PROMPT[511]!]))).toEqual(bits(a));
    const e = await loadCpuDecoder(join(root, 'mem'), 'q4', { maxContext: 700 });
    e.forward(PROMPT.slice(0, 699));
    e.forward([3]);
    expect(() => e.forward([1])).toThrow(/701 tokens, more than this model's 700/);
  });

  it('kvChunkPositions refusals name the value', async () => {
    const dir = join(root, 'mem');
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -8, 4, 4097, 8.5]) {
      await expect(loadCpuDecoder(dir, 'q4', { kvChunkPositions: bad })).rejects.toMatchObject({
        code: 'bad_request',
        message: `A KV cache chunk holds a multiple of 8 positions from 8 to 4096, not ${bad}.`,
      });
    }
    // From untyped JavaScript: a string is named as one, not as the number it spells.
    await expect(
      loadCpuDecoder(dir, 'q4', { kvChunkPositions: '512' as unknown as number }),
    ).rejects.toMatchObject({
      message: 'A KV cache chunk holds a multiple of 8 positions from 8 to 4096, not "512".',
    });
    for (const ok of [8, 4096])
      expect((await loadCpuDecoder(dir, 'q4', { kvChunkPositions: ok })).chunkPositions).toBe(ok);
  });
});
