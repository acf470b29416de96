/**
 * `edgetier bench --depth` on real engines (the tiny twin, fp32: greedy tokens are exact with and
 * without the cache): each row kind's target fills the context and then runs on top of it, so its
 * greedy tokens equal those of one request over context + prompt, with the context reported as
 * cached; then a whole run at two depths through the CLI. Never asserts a speed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserBench } from '../../src/bench/browser-targets.ts';
import { nativeTarget } from '../../src/bench/native-target.ts';
import { synthPreset } from '../../src/builder/synth.ts';
import { type DepthEngine, generateAtDepth } from '../../src/core/bench/depth.ts';
import { syntheticPromptIds } from '../../src/core/bench/method.ts';
import { type BenchReport, validateBenchReport } from '../../src/core/bench/schema.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/edgetier.mjs', import.meta.url).pathname;

async function edgetier(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let root = '';
let tiny = '';
const VOCAB = 256;
// Over 64 tokens: the ORT path reads the fill in chunks, as it reads a long prompt.
const context = syntheticPromptIds(100, VOCAB, 3);
const prompt = syntheticPromptIds(5, VOCAB, 1);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-bench-depth-'));
  tiny = join(root, 'tiny');
  // q8 for the stock baseline, whose default dtype it is.
  await synthPreset('tiny', tiny, { dtypes: ['fp32', 'q8'], seed: 3 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * The depth run's tokens and metrics (after a load: the whole context read; and again after another
 * run: the cache cut back to the context), and the tokens of one request over context + prompt.
 */
async function bothWays(engine: DepthEngine) {
  const atDepth = await generateAtDepth(engine, context, prompt, 12);
  await engine.resetConversation();
  const whole = await engine.generate({
    promptIds: [...context, ...prompt],
    sampling: { maxNewTokens: 12, ignoreEos: true },
  });
  // The cache now holds context + prompt + 11 answer tokens: the fill cuts it back.
  const again = await generateAtDepth(engine, context, prompt, 12);
  expect(again.metrics).toMatchObject({ prefillTokens: 5, cachedPromptTokens: 100, decodeTokens: 11 });
  expect(again.outputIds).toEqual(whole.outputIds);
  return { atDepth, whole };
}

describe('bench targets at a depth', () => {
  for (const runtime of ['onnxruntime', 'edgetier'] as const) {
    it(`native (${runtime}): generates on top of the filled context, as one request over context + prompt`, async () => {
      const target = nativeTarget({ kind: 'path', path: tiny }, { dtype: 'fp32', threads: 1, runtime });
      await target.load(true);
      try {
        const { atDepth, whole } = await bothWays(target.engine);
        expect(atDepth.metrics).toMatchObject({
          prefillTokens: 5,
          cachedPromptTokens: 100,
          decodeTokens: 11,
        });
        expect(whole.metrics).toMatchObject({ prefillTokens: 105, cachedPromptTokens: 0 });
        expect(atDepth.outputIds).toEqual(whole.outputIds);
        // What the method calls: the same run, its metrics only.
        const m = await target.generate(prompt, 12, context);
        expect(m).toMatchObject({ prefillTokens: 5, cachedPromptTokens: 100 });
      } finally {
        await target.unload();
      }
    });
  }

  it('engine worker in Chromium (ORT wasm and the CPU engine): the same', async () => {
    const browser = await BrowserBench.start({ webgpu: false });
    try {
      for (const runtime of [undefined, 'edgetier'] as const) {
        const target = browser.edgetierTarget(tiny, {
          device: 'wasm',
          dtype: 'fp32',
          threads: 1,
          build: 'wasm',
          ...(runtime ? { runtime } : {}),
        });
        await target.load(true);
        try {
          const { atDepth, whole } = await bothWays(target.engine);
          expect(atDepth.metrics, runtime).toMatchObject({
            prefillTokens: 5,
            cachedPromptTokens: 100,
            decodeTokens: 11,
          });
          expect(whole.metrics.cachedPromptTokens).toBe(0);
          expect(atDepth.outputIds, runtime).toEqual(whole.outputIds);
          const m = await target.generate(prompt, 12, context);
          expect(m).toMatchObject({ prefillTokens: 5, cachedPromptTokens: 100 });
        } finally {
          await target.unload();
        }
      }
    } finally {
      await browser.close();
    }
  });
});

describe('edgetier bench --depth', () => {
  it('runs every row at each depth, refuses the stock rows at a depth by name, and names the tests', async () => {
    const result = await edgetier(
      'bench',
      tiny,
      '--device',
      'cpu,wasm',
      '--engine',
      'onnxruntime,edgetier',
      '--dtype',
      'fp32',
      '--threads',
      '1',
      '--pp',
      '8',
      '--tg',
      '4',
      '--depth',
      '0,100',
      '--reps',
      '2',
      '--rounds',
      '2',
      '--warmup',
      '0',
      '--baseline',
      '--json',
    ); // prettier-ignore
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as BenchReport;
    expect(validateBenchReport(report)).toEqual([]);
    expect(report.params.depth).toEqual([0, 100]);
    const stock = report.rows.filter((r) => r.engine === 'transformers.js');
    expect(stock.map((r) => [r.depth, r.error?.code ?? null])).toEqual([
      [0, null],
      [100, 'bad_request'],
      [0, null],
      [100, 'bad_request'],
    ]);
    expect(stock[1]!.error!.message).toContain('The stock transformers.js baseline runs at depth 0 only');
    const others = report.rows.filter((r) => r.engine !== 'transformers.js');
    // native and CPU engine in Node, ORT and CPU engine in the worker: each at both depths, in turn.
    expect(others.length).toBeGreaterThanOrEqual(4 * 2);
    for (const [i, r] of others.entries()) {
      expect(r.error, `${r.engine} ${r.device} ${r.ort_build} @ ${r.depth}`).toBeNull();
      expect(r.depth).toBe(i % 2 === 0 ? 0 : 100);
      expect(r.tg_tok_s?.n).toBe(2);
      expect(r.pp_tok_s?.n).toBe(2);
    }
    expect(report.ratios.some((r) => r.depth === 100)).toBe(true);
    expect(report.ratios.filter((r) => r.depth === 100).every((r) => r.numerator.endsWith('@ d100'))).toBe(
      true,
    );
    expect(report.notes.some((n) => n.startsWith("Depth (llama-bench's -d)"))).toBe(true);
  }, 400_000);

  it('refuses a depth past the context window, and a malformed list, in one line with exit code 2', async () => {
    const over = await edgetier(
      'bench',
      tiny,
      '--device',
      'cpu',
      '--pp',
      '22',
      '--tg',
      '32',
      '--depth',
      '0,2015',
    );
    expect(over.code).toBe(2);
    expect(over.stderr.trim()).toBe(
      'edgetier bench: --depth 2015 does not fit tiny: the tests need depth + 1 + tg + 1 = 2049 positions, and its ' +
        'context holds 2048 (max_position_embeddings); lower --depth to 2014 or less, or --pp/--tg.',
    );
    const bad = await edgetier('bench', tiny, '--device', 'cpu', '--depth', '0,2k');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--depth "2k" is not a whole number of tokens');
    expect(bad.stderr).not.toContain('    at ');
  });
});
