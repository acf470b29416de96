/**
 * The NaN-logits refusal under a hostile review's cases: NaN that appears only at a later answer
 * token (a NaN embedding row of a token the model generates), in a reused cache's second turn, during
 * a chunked prefill, only at EOS under ignoreEos (the CPU engine refused where the ORT path answered;
 * now both answer), only in the vocabulary's tail; the state after the error.
 * Real parts: a converted tiny llama through NodeEngine on both runtimes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DTYPE_FILE, type Dtype } from '../../src/core/dtypes.ts';
import type { GenerateRequest } from '../../src/core/engine.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { type ConvertedFolders, convertedFolders } from '../helpers/converted-folders.ts';
import { onnxWithFloats } from '../helpers/onnx-floats.ts';

const VOCAB = 387; // not a multiple of 4: the kernel's tail is a real model's too
const EOS = 2;
const msg = (n: number) =>
  `The model's scores for token ${n} of the answer are not numbers (NaN), so no next token can be chosen: its arithmetic overflowed (as f16 weights on a GPU can) or its weights are damaged. Try another weight format (dtype) or device.`;

let root: string;
let folders: ConvertedFolders;

/** A folder whose embedding row of `token` is NaN (fp32: the row; q4: its scale). */
function nanEmbedding(name: string, token: number): string {
  return folders.folder(name, {
    [`onnx/${DTYPE_FILE.fp32}`]: onnxWithFloats(folders.built, 'fp32', {
      'model.embed_tokens.weight': [[token * 64, Number.NaN]],
    }),
    [`onnx/${DTYPE_FILE.q4}`]: onnxWithFloats(folders.built, 'q4', {
      'model.embed_tokens.weight_scale': [[token, Number.NaN]],
    }),
  });
}

/** A folder whose logit `token` alone is NaN (lm_head.weight_T[0][token]), fp32 only. */
function nanLogit(name: string, token: number): string {
  return folders.folder(name, {
    [`onnx/${DTYPE_FILE.fp32}`]: onnxWithFloats(folders.built, 'fp32', {
      'lm_head.weight_T': [[token, Number.NaN]],
    }),
  });
}

type Runtime = 'edgetier' | 'onnxruntime';
async function engineOn(runtime: Runtime, dir: string, dtype: Dtype): Promise<NodeEngine> {
  const engine = new NodeEngine({ runtime });
  await engine.load({ source: { kind: 'path', path: dir }, device: 'cpu', dtype });
  return engine;
}
async function once(runtime: Runtime, dir: string, dtype: Dtype, request: GenerateRequest) {
  const engine = await engineOn(runtime, dir, dtype);
  try {
    return await engine.generate(request);
  } finally {
    await engine.unload();
  }
}
const greedy = (promptIds: number[], maxNewTokens: number, extra = {}): GenerateRequest => ({
  promptIds,
  sampling: { maxNewTokens, ignoreEos: true, ...extra },
});

const PROMPT = [10, 11, 12, 13];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-nan-review-'));
  folders = await convertedFolders(join(root, 'plain'), 'fp32,q4', {
    tied: false,
    seed: 21,
    linearScale: 3,
    vocabSize: VOCAB,
  });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The clean answer's first token k (1-based, k >= 2) that is new (not in the prompt or before it). */
function laterNewToken(prompt: number[], answer: number[]): number {
  for (let k = 4; k <= answer.length; k++) {
    const t = answer[k - 1] as number;
    if (!prompt.includes(t) && !answer.slice(0, k - 1).includes(t)) return k;
  }
  throw new Error(`no new token in ${answer}`);
}

describe.each([
  ['edgetier', 'fp32'],
  ['edgetier', 'q4'],
  ['onnxruntime', 'fp32'],
] as const)('%s %s', (runtime, dtype) => {
  it('a NaN only from a later answer token on: the message names that token', async () => {
    const clean = (await once(runtime, folders.built, dtype, greedy(PROMPT, 8))).outputIds;
    const k = laterNewToken(PROMPT, clean);
    const dir = nanEmbedding(`later-${runtime}-${dtype}`, clean[k - 1] as number);
    for (const extra of [{}, { repetitionPenalty: 1.3 }, { temperature: 0.7, topK: 1 }]) {
      const c = (await once(runtime, folders.built, dtype, greedy(PROMPT, 8, extra))).outputIds;
      const kk = c.indexOf(clean[k - 1] as number) + 1;
      if (kk === 0) continue; // that setting never makes the token
      await expect(
        once(runtime, dir, dtype, greedy(PROMPT, 8, extra)),
        `${JSON.stringify(extra)} clean ${c}`,
      ).rejects.toMatchObject({ code: 'generation_failed', message: msg(kk + 1) });
    }
  });

  it('second turn on a reused cache: the count starts at that answer, and the model answers after', async () => {
    const clean = (await once(runtime, folders.built, dtype, greedy(PROMPT, 8))).outputIds;
    const k = laterNewToken(PROMPT, clean);
    const bad = clean[k - 1] as number;
    const dir = nanEmbedding(`turn2-${runtime}-${dtype}`, bad);
    const engine = await engineOn(runtime, dir, dtype);
    try {
      // Turn 1 stops one token before the bad one is generated.
      const first = await engine.generate(greedy(PROMPT, k - 1));
      // On the clean model the same two turns reuse the cache (so turn 2's prompt is part cached).
      const cleanEngine = await engineOn(runtime, folders.built, dtype);
      await cleanEngine.generate(greedy(PROMPT, k - 1));
      const cleanTurn2 = await cleanEngine.generate(greedy([...PROMPT, ...first.outputIds], 3));
      await cleanEngine.unload();
      expect(cleanTurn2.metrics.cachedPromptTokens).toBeGreaterThan(0);
      expect(cleanTurn2.outputIds[0]).toBe(bad);
      const turn2 = [...PROMPT, ...first.outputIds];
      // Turn 2's answer makes `bad` as its token (k - first.length), then NaN.
      const expectAt = k - first.outputIds.length + 1;
      let error: unknown = null;
      const got = await engine.generate(greedy(turn2, 8)).catch((e) => {
        error = e;
        return null;
      });
      expect(got, `turn 2 answered ${got?.outputIds}`).toBeNull();
      expect(error).toMatchObject({ code: 'generation_failed', message: msg(expectAt) });
      // The same engine afterwards: a clean prompt gives the fresh engine's tokens.
      const cleanPrompt = [20, 21, 22];
      const fresh = (await once(runtime, dir, dtype, greedy(cleanPrompt, 3))).outputIds;
      if (!fresh.includes(bad)) {
        expect((await engine.generate(greedy(cleanPrompt, 3))).outputIds).toEqual(fresh);
      }
    } finally {
      await engine.unload();
    }
  });

  it('a NaN token deep in a long prompt (chunked prefill) fails at token 1; the engine then answers a short prompt as fresh', async () => {
    const bad = 300;
    const dir = nanEmbedding(`prefill-${runtime}-${dtype}`, bad);
    const long = Array.from({ length: 150 }, (_, i) => 30 + (i % 200));
    long[100] = bad;
    const engine = await engineOn(runtime, dir, dtype);
    try {
      await expect(engine.generate(greedy(long, 4))).rejects.toMatchObject({
        code: 'generation_failed',
        message: msg(1),
      });
      // The decoder's cache memory still holds the NaN keys and values of positions >= 100.
      const short = [40, 41, 42];
      const fresh = (await once(runtime, dir, dtype, greedy(short, 6))).outputIds;
      expect((await engine.generate(greedy(short, 6))).outputIds).toEqual(fresh);
      // A prompt that shares the failed one's first 100 tokens (cache reset, not reused).
      const shared = long.slice(0, 100);
      const freshShared = (await once(runtime, dir, dtype, greedy(shared, 4))).outputIds;
      const again = await engine.generate(greedy(shared, 4));
      expect(again.outputIds).toEqual(freshShared);
      expect(again.metrics.cachedPromptTokens).toBe(0);
    } finally {
      await engine.unload();
    }
  });
});

describe('a NaN in one logit only', () => {
  it.each(['edgetier', 'onnxruntime'] as const)(
    '%s: NaN at the last vocabulary index (the tail)',
    async (runtime) => {
      const dir = nanLogit(`tail-${runtime}`, VOCAB - 1);
      await expect(once(runtime, dir, 'fp32', greedy(PROMPT, 3))).rejects.toMatchObject({
        code: 'generation_failed',
        message: msg(1),
      });
    },
  );

  it('NaN only at EOS: both runtimes agree with ignoreEos and without', async () => {
    const dir = nanLogit('eos', EOS);
    const outcome = async (runtime: Runtime, ignoreEos: boolean) =>
      once(runtime, dir, 'fp32', { promptIds: PROMPT, sampling: { maxNewTokens: 3, ignoreEos } }).then(
        (r) => `answered ${r.outputIds}`,
        (e: Error & { code?: string }) => `${e.code}`,
      );
    const table: Record<string, string> = {};
    for (const ignoreEos of [false, true]) {
      for (const runtime of ['edgetier', 'onnxruntime'] as const) {
        table[`${runtime} ignoreEos=${ignoreEos}`] = await outcome(runtime, ignoreEos);
      }
    }
    // The NaN is where the choice reads it unless the EOS is suppressed (-Infinity) first.
    expect(table['edgetier ignoreEos=false']).toBe('generation_failed');
    expect(table['edgetier ignoreEos=true']).toMatch(/^answered \d+,\d+,\d+$/);
    expect(table['onnxruntime ignoreEos=true'], JSON.stringify(table)).toBe(table['edgetier ignoreEos=true']);
    expect(table['onnxruntime ignoreEos=false'], JSON.stringify(table)).toBe(
      table['edgetier ignoreEos=false'],
    );
  });
});

describe('around the refusal', () => {
  it.each(['edgetier', 'onnxruntime'] as const)(
    '%s: a stop string met at the token before the NaN step ends the answer normally',
    async (runtime) => {
      const clean = await once(runtime, folders.built, 'fp32', greedy(PROMPT, 8));
      const k = laterNewToken(PROMPT, clean.outputIds);
      const dir = nanEmbedding(`stop-${runtime}`, clean.outputIds[k - 1] as number);
      const upTo = (await once(runtime, folders.built, 'fp32', greedy(PROMPT, k))).text;
      const before = (await once(runtime, folders.built, 'fp32', greedy(PROMPT, k - 1))).text;
      expect(upTo).not.toBe(before);
      const result = await once(runtime, dir, 'fp32', {
        promptIds: PROMPT,
        sampling: { maxNewTokens: 8, ignoreEos: true, stop: [upTo] },
      });
      expect(result.outputIds).toEqual(clean.outputIds.slice(0, k));
    },
  );

  /** lm_head column `token`: +-Infinity in row 0, zeros below: logit = x0 * Infinity (no NaN). */
  function infLogit(name: string, token: number, sign: number): string {
    return folders.folder(name, {
      [`onnx/${DTYPE_FILE.fp32}`]: onnxWithFloats(folders.built, 'fp32', {
        'lm_head.weight_T': Array.from({ length: 64 }, (_, h) => [
          h * VOCAB + token,
          h === 0 ? sign * Infinity : 0,
        ]),
      }),
    });
  }

  it.each(['edgetier', 'onnxruntime'] as const)(
    '%s: an infinite logit is no NaN: never refused',
    async (runtime) => {
      for (const [sign, token] of [
        [1, 50],
        [-1, 51],
      ] as const) {
        const dir = infLogit(`inf-${runtime}-${sign}`, token, sign);
        for (const extra of [
          {},
          { temperature: 0.8 },
          { temperature: 0.8, topP: 0.9, topK: 5 },
          { repetitionPenalty: 1.5 },
        ]) {
          const r = await once(runtime, dir, 'fp32', greedy(PROMPT, 6, extra)).catch(
            (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
          );
          expect(typeof r === 'string' ? r : 'answered', `${sign} ${JSON.stringify(extra)}`).toBe('answered');
        }
      }
    },
  );
});
