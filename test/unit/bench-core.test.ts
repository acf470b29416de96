import { describe, expect, it } from 'vitest';
import {
  type BenchTarget,
  budgetNote,
  type ConfigMeasurement,
  measureConfig,
  measureInRounds,
  mergeRounds,
  ppTokPerSec,
  repsPerRound,
  roundFailureMessage,
  rowBudgetNote,
  syntheticPromptIds,
  tgTokPerSec,
} from '../../src/core/bench/method.ts';
import { formatStats, toCsv, toMarkdown, toSvg } from '../../src/core/bench/render.ts';
import {
  BENCH_SCHEMA,
  type BenchReport,
  type BenchRow,
  benchRow,
  computeRatios,
  roundRatios,
  validateBenchReport,
} from '../../src/core/bench/schema.ts';
import { agreeWithinSpread, mean, median, sampleSd, summarize } from '../../src/core/bench/stats.ts';
import { toSummaryMarkdown } from '../../src/core/bench/summary.ts';
import { generationMetrics } from '../helpers/bench-fixtures.ts';

const metrics = generationMetrics;

describe('bench statistics', () => {
  it('gives mean and sample standard deviation (n - 1), as llama-bench does', () => {
    expect(mean([2, 4, 4, 4, 5, 5, 7, 9])).toBe(5);
    expect(sampleSd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935, 8);
    expect(sampleSd([3])).toBe(0);
    expect(summarize([1, 3])).toEqual({ mean: 2, sd: Math.SQRT2, n: 2, values: [1, 3] });
  });

  it('gives the median: the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('says whether two runs agree within the spread they report', () => {
    expect(agreeWithinSpread(summarize([10, 12]), summarize([12.5, 13.5]))).toBe(true); // 11 vs 13, sd 1.41+0.71
    expect(agreeWithinSpread(summarize([10, 10.2]), summarize([12, 12.2]))).toBe(false);
    expect(agreeWithinSpread(summarize([100]), summarize([101.5]))).toBe(true); // within the 2 % floor
  });
});

describe('bench method', () => {
  it('makes reproducible synthetic prompts clear of the special-token ids', () => {
    const a = syntheticPromptIds(128, 49152, 1);
    expect(a).toHaveLength(128);
    expect(syntheticPromptIds(128, 49152, 1)).toEqual(a);
    expect(syntheticPromptIds(128, 49152, 2)).not.toEqual(a);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(256);
    expect(Math.max(...a)).toBeLessThan(49152);
    expect(new Set(a).size).toBeGreaterThan(100);
    const tiny = syntheticPromptIds(50, 300, 1);
    expect(Math.min(...tiny)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...tiny)).toBeLessThan(300);
  });

  it('computes pp = N / time to first token and tg over the decode steps, and refuses short runs', () => {
    expect(ppTokPerSec(metrics({ prefillTokens: 128, ttftMs: 400 }), 128)).toBe(320);
    expect(() =>
      ppTokPerSec(metrics({ prefillTokens: 120, cachedPromptTokens: 8, ttftMs: 400 }), 128),
    ).toThrow('pp 128: the engine prefilled 120 tokens (8 cached), not 128.');
    expect(tgTokPerSec(metrics({ decodeTokens: 64, decodeTokPerSec: 21.5 }), 64)).toBe(21.5);
    expect(() => tgTokPerSec(metrics({ decodeTokens: 12, decodeTokPerSec: 30 }), 64)).toThrow(
      'tg 64: the engine decoded 12 tokens, not 64.',
    );
  });

  it('loads cold then warm, leaves warm-up runs out and unloads at the end', async () => {
    const calls: string[] = [];
    let run = 0;
    const target: BenchTarget = {
      async load(cold) {
        calls.push(cold ? 'load cold' : 'load warm');
        return { totalMs: cold ? 900 : 300, downloadMs: cold ? 600 : 0, initMs: 300 };
      },
      async unload() {
        calls.push('unload');
      },
      async generate(ids, n) {
        calls.push(`generate ${ids.length} ${n}`);
        run++;
        // Warm-up (runs 1-2) is slow; the counted runs alternate.
        return ids.length === 16
          ? metrics({ prefillTokens: 16, ttftMs: run <= 2 ? 1000 : run % 4 === 3 ? 100 : 200 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: run <= 2 ? 1 : run % 4 === 0 ? 10 : 20 });
      },
      async peakMemory() {
        return { bytes: 1234, note: 'test' };
      },
    };
    const m = await measureConfig(target, { pp: 16, tg: 4, reps: 2, warmup: 1 }, 1000);
    expect(calls).toEqual([
      'load cold',
      'unload',
      'load warm',
      'generate 16 1',
      'generate 1 5',
      'generate 16 1',
      'generate 1 5',
      'generate 16 1',
      'generate 1 5',
      'unload',
    ]);
    expect(m.ppTokPerSec.values).toEqual([160, 80]);
    expect(m.tgTokPerSec.values).toEqual([10, 20]);
    expect(m.ttftMs.values).toEqual([100, 200]);
    expect(m.coldLoad.downloadMs).toBe(600);
    expect(m.peakMemory.bytes).toBe(1234);
  });
});

describe('row budget', () => {
  it('runs every repetition that fits, else as many as fit but never fewer than 2 nor more than reps', () => {
    expect(repsPerRound(5, 1, 1_000, 60_000)).toBe(5);
    expect(repsPerRound(5, 1, 12_000, 60_000)).toBe(5);
    expect(repsPerRound(5, 1, 12_001, 60_000)).toBe(4);
    expect(repsPerRound(5, 1, 20_000, 60_000)).toBe(3);
    expect(repsPerRound(5, 1, 40_000, 60_000)).toBe(2);
    expect(repsPerRound(5, 1, 300_000, 60_000)).toBe(2);
    expect(repsPerRound(1, 1, 300_000, 60_000)).toBe(1);
    expect(repsPerRound(5, 1, 300_000, 0)).toBe(5);
    expect(budgetNote(2, 5, 60_000, 41_600)).toBe('2 of 5 repetitions: row budget 60 s (one took ~42 s)');
  });

  it('in rounds, the same count in every round: as many as fit, at least 1 per round and 2 in all', () => {
    expect(repsPerRound(9, 3, 6_000, 60_000)).toBe(3); // 54 s: all fit
    expect(repsPerRound(9, 3, 8_000, 60_000)).toBe(2); // 72 s: 7 fit, 2 per round
    expect(repsPerRound(9, 3, 30_000, 60_000)).toBe(1);
    expect(repsPerRound(4, 2, 300_000, 60_000)).toBe(1);
    expect(repsPerRound(6, 3, 0, 0)).toBe(2);
    expect(() => repsPerRound(5, 2, 0, 0)).toThrow(
      'reps (5) must be a multiple of rounds (2): every round runs as many.',
    );
    expect(budgetNote(6, 9, 60_000, 8_000, 3)).toBe(
      '6 of 9 repetitions (2 in each of 3 rounds): row budget 60 s (one took ~8 s)',
    );
  });

  /** A target on a fake clock: each pp run takes ppMs, each tg run tgMs. */
  function clockedTarget(ppMs: number, tgMs: number) {
    let clock = 0;
    const calls: string[] = [];
    const target: BenchTarget = {
      async load() {
        clock += 5_000;
        return { totalMs: 5_000, downloadMs: 0, initMs: 5_000 };
      },
      async unload() {},
      async generate(ids, n) {
        calls.push(`generate ${ids.length} ${n}`);
        if (ids.length === 16) {
          clock += ppMs;
          return metrics({ prefillTokens: 16, ttftMs: ppMs });
        }
        clock += tgMs;
        return metrics({ decodeTokens: n - 1, decodeTokPerSec: ((n - 1) * 1000) / tgMs });
      },
      async peakMemory() {
        return { bytes: null, note: 'test' };
      },
    };
    return { target, calls, now: () => clock };
  }

  it('times the warm-up and runs fewer repetitions, with the actual n and a note', async () => {
    const { target, calls, now } = clockedTarget(8_000, 32_000);
    const m = await measureConfig(target, { pp: 16, tg: 4, reps: 5, warmup: 1 }, 1000, undefined, {
      rowBudgetMs: 60_000,
      now,
    });
    expect(calls).toHaveLength(6); // warm-up + 2 counted, pp and tg each
    expect(m.ppTokPerSec.n).toBe(2);
    expect(m.tgTokPerSec.values).toEqual([0.125, 0.125]); // 4 tokens in 32 s
    expect(m.ttftMs.n).toBe(2);
    expect(m.note).toBe('2 of 5 repetitions: row budget 60 s (one took ~40 s)');
  });

  it('without a warm-up, times the first counted repetition; a fast row keeps every repetition', async () => {
    const slow = clockedTarget(10_000, 15_000);
    const m = await measureConfig(slow.target, { pp: 16, tg: 4, reps: 5, warmup: 0 }, 1000, undefined, {
      rowBudgetMs: 60_000,
      now: slow.now,
    });
    expect(m.tgTokPerSec.n).toBe(2);
    expect(m.note).toBe('2 of 5 repetitions: row budget 60 s (one took ~25 s)');
    const fast = clockedTarget(100, 400);
    const f = await measureConfig(fast.target, { pp: 16, tg: 4, reps: 5, warmup: 2 }, 1000, undefined, {
      rowBudgetMs: 60_000,
      now: fast.now,
    });
    expect(fast.calls).toHaveLength(14);
    expect(f.tgTokPerSec.n).toBe(5);
    expect(f.note).toBeNull();
  });
});

describe('warm-up', () => {
  /** A target on a fake clock whose every repetition (pp + tg) takes repMs. */
  function steady(repMs: number) {
    let clock = 0;
    let runs = 0;
    const target: BenchTarget = {
      async load() {
        return { totalMs: 1, downloadMs: 0, initMs: 1 };
      },
      async unload() {},
      async generate(ids, n) {
        runs++;
        clock += repMs / 2;
        return ids.length === 16
          ? metrics({ prefillTokens: 16, ttftMs: repMs / 2 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: 10 });
      },
      async peakMemory() {
        return { bytes: null, note: 'test' };
      },
    };
    return { target, now: () => clock, runs: () => runs / 2 };
  }

  it('runs warm-up until warmup_s has passed (at least `warmup` runs, at most 20); never with warmup 0', async () => {
    const params = { pp: 16, tg: 4, reps: 2, warmup: 1, warmup_s: 2 };
    const fast = steady(300);
    const f = await measureConfig(fast.target, params, 1000, undefined, { now: fast.now });
    expect(f.warmupRuns).toBe(7); // 7 × 300 ms ≥ 2 s
    expect(fast.runs()).toBe(9);
    expect(f.tgTokPerSec.n).toBe(2);
    const slow = steady(5_000);
    expect(
      (await measureConfig(slow.target, { ...params, warmup: 2 }, 1000, undefined, { now: slow.now }))
        .warmupRuns,
    ).toBe(2);
    const tiny = steady(10);
    expect((await measureConfig(tiny.target, params, 1000, undefined, { now: tiny.now })).warmupRuns).toBe(
      20,
    );
    const none = steady(10);
    expect(
      (await measureConfig(none.target, { ...params, warmup: 0 }, 1000, undefined, { now: none.now }))
        .warmupRuns,
    ).toBe(0);
    const plain = steady(10);
    expect(
      (await measureConfig(plain.target, { ...params, warmup_s: 0 }, 1000, undefined, { now: plain.now }))
        .warmupRuns,
    ).toBe(1);
  });

  it('the row budget is decided on the last warm-up run, however many ran', async () => {
    const t = steady(300);
    const m = await measureConfig(
      t.target,
      { pp: 16, tg: 4, reps: 5, warmup: 1, warmup_s: 1 },
      1000,
      undefined,
      {
        now: t.now,
        rowBudgetMs: 900,
      },
    );
    expect(m.warmupRuns).toBe(4);
    expect(m.tgTokPerSec.n).toBe(3);
    expect(m.note).toBe('3 of 5 repetitions: row budget 0.9 s (one took ~0 s)');
  });
});

describe('rounds', () => {
  /**
   * A target whose repetition takes `repMs[round]` on a fake clock (pp a quarter, tg the rest): its
   * speed changes from one round to the next, as a shared machine's does.
   */
  function driftingTarget(clock: { ms: number }, repMs: number[], round: { at: number }): BenchTarget {
    return {
      async load() {
        return { totalMs: 1, downloadMs: 0, initMs: 1 };
      },
      async unload() {},
      async generate(ids, n) {
        const ms = repMs[round.at]!;
        if (ids.length === 16) {
          clock.ms += ms / 4;
          return metrics({ prefillTokens: 16, ttftMs: ms / 4 });
        }
        clock.ms += (ms * 3) / 4;
        return metrics({ decodeTokens: n - 1, decodeTokPerSec: ((n - 1) * 1000) / ((ms * 3) / 4) });
      },
      async peakMemory() {
        return { bytes: null, note: 'test' };
      },
    };
  }

  it('a row cut by the budget runs the same repetitions in every round, decided before its first counted run', async () => {
    const clock = { ms: 0 };
    const round = { at: 0 };
    // Row 0 is slow and drifts: 8 s a repetition in round 1, 12 s in round 2, 5 s in round 3. A
    // budget decided round by round would keep more of its fast rounds; here every round runs 2.
    // Row 1 is fast and keeps all 9 (3 a round).
    const slow = driftingTarget(clock, [8_000, 12_000, 5_000], round);
    const fast = driftingTarget(clock, [100, 100, 100], round);
    const turns: string[] = [];
    const outcomes = await measureInRounds(
      [
        { open: async () => slow, vocabSize: 1000 },
        { open: async () => fast, vocabSize: 1000 },
      ],
      { pp: 16, tg: 4, reps: 9, warmup: 1, rounds: 3 },
      { rowBudgetMs: 60_000, now: () => clock.ms },
      {
        onTurn: (i, r) => {
          round.at = r;
          turns.push(`${i}/${r}`);
        },
      },
    );
    expect(turns).toEqual(['0/0', '1/0', '0/1', '1/1', '0/2', '1/2']);
    const [cut, kept] = outcomes as ConfigMeasurement[];
    expect(cut!.repsByRound).toEqual([2, 2, 2]);
    expect(cut!.tgTokPerSec.n).toBe(6);
    expect(cut!.note).toBe('6 of 9 repetitions (2 in each of 3 rounds): row budget 60 s (one took ~8 s)');
    // Equal repetitions per round: the mean of all values is the mean of the three round means.
    const roundMeans = [0, 1, 2].map((r) => mean(cut!.tgTokPerSec.values.slice(2 * r, 2 * r + 2)));
    expect(cut!.tgTokPerSec.mean).toBeCloseTo(mean(roundMeans), 12);
    expect(kept!.repsByRound).toEqual([3, 3, 3]);
    expect(kept!.note).toBeNull();
  });

  it('a row that fails in its first round becomes its error and runs no more turns', async () => {
    let opened = 0;
    const target: BenchTarget = {
      async load() {
        if (++opened === 2) throw new Error('worker died');
        return { totalMs: 1, downloadMs: 0, initMs: 1 };
      },
      async unload() {},
      async generate(ids, n) {
        return ids.length === 16
          ? metrics({ prefillTokens: 16, ttftMs: 10 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: 10 });
      },
      async peakMemory() {
        return { bytes: null, note: 'test' };
      },
    };
    const turns: string[] = [];
    const [outcome] = await measureInRounds(
      [{ open: async () => target, vocabSize: 1000 }],
      { pp: 16, tg: 4, reps: 3, warmup: 0, rounds: 3 },
      {},
      { onTurn: (i, r) => turns.push(`${i}/${r}`) },
    );
    // Round 1 loads cold then warm (loads 1 and 2): the second load fails.
    expect(turns).toEqual(['0/0']);
    expect((outcome as { error: Error }).error.message).toBe('worker died');
  });

  it('a later round loads warm only and reports that load as both', async () => {
    const calls: string[] = [];
    const target: BenchTarget = {
      async load(cold) {
        calls.push(cold ? 'load cold' : 'load warm');
        return { totalMs: cold ? 900 : 300, downloadMs: 0, initMs: 300 };
      },
      async unload() {
        calls.push('unload');
      },
      async generate(ids, n) {
        calls.push(`generate ${ids.length} ${n}`);
        return ids.length === 16
          ? metrics({ prefillTokens: 16, ttftMs: 100 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: 20 });
      },
      async peakMemory() {
        return { bytes: null, note: 'test' };
      },
    };
    const m = await measureConfig(target, { pp: 16, tg: 4, reps: 1, warmup: 1 }, 1000, undefined, {
      warmOnly: true,
    });
    expect(calls).toEqual([
      'load warm',
      'generate 16 1',
      'generate 1 5',
      'generate 16 1',
      'generate 1 5',
      'unload',
    ]);
    expect(m.coldLoad.totalMs).toBe(300);
    expect(m.tgTokPerSec.values).toEqual([20]);
  });

  function part(tg: number[], extra: Partial<ConfigMeasurement> = {}): ConfigMeasurement {
    return {
      ppTokPerSec: summarize(tg.map((v) => v * 10)),
      tgTokPerSec: summarize(tg),
      ttftMs: summarize(tg.map(() => 50)),
      coldLoad: { totalMs: 900, downloadMs: 600, initMs: 300 },
      warmLoad: { totalMs: 300, downloadMs: 0, initMs: 300 },
      peakMemory: { bytes: 100, note: 'heap' },
      note: null,
      repsPerRound: tg.length,
      warmupRuns: 1,
      ...extra,
    };
  }

  it("merges a row's rounds in order: values, the first round's loads, the highest memory, its note", () => {
    const note = '3 of 6 repetitions (1 in each of 3 rounds): row budget 30 s (one took ~40 s)';
    const merged = mergeRounds([
      part([10], { note }),
      part([20], {
        coldLoad: { totalMs: 300, downloadMs: 0, initMs: 300 },
        peakMemory: { bytes: 300, note: 'heap' },
      }),
      part([30], { peakMemory: { bytes: 200, note: 'heap' } }),
    ]);
    expect(merged.tgTokPerSec.values).toEqual([10, 20, 30]);
    expect(merged.tgTokPerSec.mean).toBe(20);
    expect(merged.ppTokPerSec.values).toEqual([100, 200, 300]);
    expect(merged.coldLoad.downloadMs).toBe(600);
    expect(merged.peakMemory).toEqual({ bytes: 300, note: 'heap; the highest of 3 rounds' });
    expect(merged.note).toBe(note);
    expect(merged.repsByRound).toEqual([1, 1, 1]);
    expect(merged.repsPerRound).toBe(1);
    const single = part([5]);
    expect(mergeRounds([single])).toBe(single);
  });

  it('states each ratio inside every round as well, pp and tg, from the values each round ran', () => {
    const edge = row({
      is_default: true,
      tg_tok_s: { mean: 0, sd: 0, n: 4, values: [30, 34, 40, 42] },
      pp_tok_s: { mean: 0, sd: 0, n: 4, values: [100, 100, 120, 120] },
      reps_by_round: [2, 2],
    });
    const stock = row({
      engine: 'transformers.js',
      dtype: 'default',
      threads: 1,
      ort_build: 'webgpu',
      tg_tok_s: { mean: 0, sd: 0, n: 4, values: [20, 24, 25, 27] },
      pp_tok_s: { mean: 0, sd: 0, n: 4, values: [50, 50, 100, 100] },
      reps_by_round: [2, 2],
    });
    expect(roundRatios(edge, stock, (r) => r.tg_tok_s)).toEqual([32 / 22, 41 / 26]);
    expect(roundRatios(edge, stock, (r) => r.pp_tok_s)).toEqual([2, 1.2]);
    expect(roundRatios(edge, { ...stock, pp_tok_s: null }, (r) => r.pp_tok_s)).toBeNull();
    expect(roundRatios(edge, { ...stock, reps_by_round: [1, 1, 2] }, (r) => r.tg_tok_s)).toBeNull();
    const [ratio] = computeRatios([edge, stock]);
    expect(ratio).toMatchObject({ tg_by_round: [32 / 22, 41 / 26], pp_by_round: [2, 1.2] });
    const report = { ...sampleReport(), params: { pp: 128, tg: 64, reps: 4, warmup: 1, rounds: 2 } };
    report.rows = [edge, stock];
    report.ratios = computeRatios(report.rows);
    const md = toMarkdown(report);
    expect(md).toContain(
      '4 repetitions in 2 rounds (the rows take turns; 1 warm-up per row and round; every row runs the same repetitions in every round), mean ± sd.',
    );
    expect(md).toContain(
      '; pp by round: 2.00×, 1.20× (median 1.60×); tg by round: 1.45×, 1.58× (median 1.52×)',
    );
    expect(validateBenchReport(JSON.parse(JSON.stringify(report)))).toEqual([]);
    expect(validateBenchReport({ ...report, params: { ...report.params, rounds: 0 } })).toContain(
      'params.rounds must be an integer of at least 1 when present',
    );
    expect(validateBenchReport({ ...report, params: { ...report.params, warmup_s: -1 } })).toContain(
      'params.warmup_s must be a number of at least 0 when present',
    );
  });
});

const stats = (mean: number, sd: number) => ({ mean, sd, n: 2, values: [mean - sd, mean + sd] });

function row(partial: Partial<BenchRow>): BenchRow {
  return {
    ...benchRow(
      { model: 'twin', engine: 'edgetier', device: 'wasm', dtype: 'q8', threads: 2, ort_build: 'jspi' },
      { code: 'x', message: 'y' },
    ),
    error: null,
    peak_memory_note: '',
    ...partial,
  };
}

function sampleReport(): BenchReport {
  // Native q8 (the default row's file) prefills fastest, native q4 decodes fastest: each metric's
  // fastest native row is a different row, and neither is the whole story.
  const rows = [
    row({
      engine: 'native',
      device: 'cpu',
      dtype: 'q4',
      ort_build: 'onnxruntime-node',
      pp_tok_s: stats(300, 10),
      tg_tok_s: stats(80, 2),
      ttft_ms: stats(160, 2),
      load: {
        cold_ms: 500,
        cold_download_ms: 0,
        cold_init_ms: 500,
        warm_ms: 300,
        warm_download_ms: 0,
        warm_init_ms: 300,
      },
      peak_memory_bytes: 512 * 1024 ** 2,
    }),
    row({
      engine: 'native',
      device: 'cpu',
      dtype: 'q8',
      ort_build: 'onnxruntime-node',
      pp_tok_s: stats(400, 10),
      tg_tok_s: stats(50, 2),
    }),
    row({ is_default: true, pp_tok_s: stats(200, 5), tg_tok_s: stats(20, 1), ttft_ms: stats(640, 10) }),
    row({
      engine: 'transformers.js',
      dtype: 'default',
      threads: 1,
      ort_build: 'webgpu',
      setup: 'defaults',
      pp_tok_s: stats(100, 5),
      tg_tok_s: stats(10, 0.5),
    }),
    row({
      engine: 'transformers.js',
      dtype: 'default',
      threads: 2,
      ort_build: 'webgpu',
      setup: 'same threads',
      pp_tok_s: stats(250, 5),
      tg_tok_s: stats(16, 0.5),
      ttft_ms: stats(512, 4),
    }),
    row({
      dtype: 'fp16',
      error: { code: 'unsupported_dtype', message: 'no onnx/model_fp16.onnx | rebuild' },
    }),
  ];
  return {
    schema: BENCH_SCHEMA,
    created_at: '2026-01-01T00:00:00.000Z',
    command: 'edgetier bench twin',
    params: { pp: 128, tg: 64, reps: 2, warmup: 1 },
    environment: {
      cpu_model: 'Test CPU',
      cpu_cores: 2,
      os: 'Debian',
      node_version: 'v20.0.0',
      browser_version: 'Chromium 1 (headless)',
      webgpu: { vendor: 'google', architecture: 'swiftshader', description: '', is_fallback_adapter: true },
      webgpu_unavailable_reason: null,
      cross_origin_isolated: true,
      jspi: true,
      onnxruntime_node_version: '1.30.0',
      onnxruntime_web_version: '1.31.0-dev',
      transformers_version: '4.3.1',
      load_average: [1, 2, 3],
    },
    models: [{ id: 'twin', synthetic: true, mirrors: 'Org/Model', vocab_size: 49152 }],
    rows,
    ratios: computeRatios(rows),
    notes: ['a note'],
  };
}

describe('bench report', () => {
  it('states edgetier default WASM against both stock setups, native on the same file, and native fastest per metric', () => {
    const edge = 'edgetier wasm q8 2t (jspi)';
    expect(sampleReport().ratios).toEqual([
      {
        label: 'edgetier default wasm / stock transformers.js, same threads',
        model: 'twin',
        numerator: edge,
        denominator: 'stock transformers.js (same threads) wasm default 2t (webgpu)',
        pp: 0.8,
        tg: 1.25,
      },
      {
        label: 'edgetier default wasm / stock transformers.js, defaults',
        model: 'twin',
        numerator: edge,
        denominator: 'stock transformers.js (defaults) wasm default 1t (webgpu)',
        pp: 2,
        tg: 2,
      },
      {
        label: 'edgetier default wasm / native onnxruntime-node, same dtype (same file)',
        model: 'twin',
        numerator: edge,
        denominator: 'native cpu q8 2t (onnxruntime-node)',
        pp: 0.5,
        tg: 0.4,
      },
      {
        // pp against the row that prefills fastest (q8), not the one that decodes fastest.
        label: 'edgetier default wasm / native onnxruntime-node, fastest pp row (pp only)',
        model: 'twin',
        numerator: edge,
        denominator: 'native cpu q8 2t (onnxruntime-node)',
        pp: 0.5,
        tg: null,
      },
      {
        label: 'edgetier default wasm / native onnxruntime-node, fastest tg row (tg only)',
        model: 'twin',
        numerator: edge,
        denominator: 'native cpu q4 2t (onnxruntime-node)',
        pp: null,
        tg: 0.25,
      },
    ]);
  });

  it('reads a report written before the stock setups: its one stock row is the defaults one', () => {
    const report = sampleReport();
    const old = report.rows.filter((r) => r.setup !== 'same threads').map(({ setup: _, ...r }) => r);
    const ratios = computeRatios(old);
    expect(ratios.map((r) => r.label)).toEqual([
      'edgetier default wasm / stock transformers.js, defaults',
      'edgetier default wasm / native onnxruntime-node, same dtype (same file)',
      'edgetier default wasm / native onnxruntime-node, fastest pp row (pp only)',
      'edgetier default wasm / native onnxruntime-node, fastest tg row (tg only)',
    ]);
    expect(ratios[0]!.denominator).toBe('stock transformers.js (defaults) wasm default 1t (webgpu)');
    expect(validateBenchReport({ ...report, rows: old })).toEqual([]);
    const bad = JSON.parse(JSON.stringify(report));
    bad.rows[3].setup = 'tuned';
    expect(validateBenchReport(bad)).toEqual([
      'rows[3].setup must be "defaults" or "same threads" when present',
    ]);
  });

  it('validates the schema and names each problem', () => {
    expect(validateBenchReport(JSON.parse(JSON.stringify(sampleReport())))).toEqual([]);
    const bad = JSON.parse(JSON.stringify(sampleReport()));
    bad.schema = 'other/1';
    bad.rows[0].threads = 'two';
    bad.rows[1].tg_tok_s = { mean: 'fast' };
    delete bad.params.reps;
    expect(validateBenchReport(bad)).toEqual([
      'schema is "other/1", not "edgetier-bench/1"',
      'params.reps must be an integer',
      'rows[0].threads must be an integer',
      'rows[1].tg_tok_s must be null or {mean, sd, n, values}',
    ]);
    expect(validateBenchReport([])).toEqual(['the report is not a JSON object']);
  });

  it('renders the Markdown table with mean ± sd, the ratios and the errors', () => {
    expect(toMarkdown(sampleReport())).toBe(`# edgetier bench

\`edgetier bench twin\` — 2026-01-01T00:00:00.000Z; 2 repetitions after 1 warm-up, mean ± sd.

- CPU: Test CPU, 2 logical cores; OS: Debian
- Node v20.0.0; browser Chromium 1 (headless); WebGPU adapter: google swiftshader (software fallback adapter)
- onnxruntime-node 1.30.0, onnxruntime-web 1.31.0-dev, transformers.js 4.3.1
- load average at start: 1.00, 2.00, 3.00
- model twin: synthetic shape twin of Org/Model (random weights; speed is real)

| model | engine | device | dtype | threads | ORT build | pp128 tok/s | tg64 tok/s | TTFT ms | load cold / warm ms | peak MiB | note |
| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| twin | native | cpu | q4 | 2 | onnxruntime-node | 300.00 ± 10.00 | 80.00 ± 2.00 | 160 | 500 / 300 | 512 |  |
| twin | native | cpu | q8 | 2 | onnxruntime-node | 400.00 ± 10.00 | 50.00 ± 2.00 | — | — | — |  |
| twin | edgetier | wasm | q8 | 2 | jspi | 200.00 ± 5.00 | 20.00 ± 1.00 | 640 | — | — | edgetier default |
| twin | transformers.js (defaults) | wasm | default | 1 | webgpu | 100.00 ± 5.00 | 10.00 ± 0.50 | — | — | — |  |
| twin | transformers.js (same threads) | wasm | default | 2 | webgpu | 250.00 ± 5.00 | 16.00 ± 0.50 | 512 | — | — |  |
| twin | edgetier | wasm | fp16 | 2 | jspi | — | — | — | — | — | error (unsupported_dtype): no onnx/model_fp16.onnx \\| rebuild |

## Ratios

- edgetier default wasm / stock transformers.js, same threads: pp 0.80×, tg 1.25× (edgetier wasm q8 2t (jspi) against stock transformers.js (same threads) wasm default 2t (webgpu))
- edgetier default wasm / stock transformers.js, defaults: pp 2.00×, tg 2.00× (edgetier wasm q8 2t (jspi) against stock transformers.js (defaults) wasm default 1t (webgpu))
- edgetier default wasm / native onnxruntime-node, same dtype (same file): pp 0.50×, tg 0.40× (edgetier wasm q8 2t (jspi) against native cpu q8 2t (onnxruntime-node))
- edgetier default wasm / native onnxruntime-node, fastest pp row (pp only): pp 0.50× (edgetier wasm q8 2t (jspi) against native cpu q8 2t (onnxruntime-node))
- edgetier default wasm / native onnxruntime-node, fastest tg row (tg only): tg 0.25× (edgetier wasm q8 2t (jspi) against native cpu q4 2t (onnxruntime-node))

## Notes

- a note
`);
  });

  it("shows a row's budget note in the Markdown note column and its actual n in the CSV", () => {
    const report = sampleReport();
    const cut = { mean: 20, sd: 1, n: 2, values: [19, 21] };
    Object.assign(report.rows[2]!, {
      tg_tok_s: cut,
      pp_tok_s: cut,
      note: '2 of 5 repetitions: row budget 60 s (one took ~40 s)',
    });
    report.params.reps = 5;
    expect(toMarkdown(report)).toContain(
      '| edgetier default; 2 of 5 repetitions: row budget 60 s (one took ~40 s) |',
    );
    expect(toCsv(report).split('\n')[3]).toBe(
      'twin,edgetier,wasm,q8,2,jspi,true,128,20,1,64,20,1,640,10,2,,,,,',
    );
  });

  it('renders CSV with one line per row, quoting where needed', () => {
    const lines = toCsv(sampleReport()).trimEnd().split('\n');
    expect(lines[0]).toBe(
      'model,engine,device,dtype,threads,ort_build,is_default,pp_tokens,pp_tok_s_mean,pp_tok_s_sd,tg_tokens,tg_tok_s_mean,tg_tok_s_sd,ttft_ms_mean,ttft_ms_sd,reps,load_cold_ms,load_warm_ms,peak_memory_bytes,error,setup',
    );
    expect(lines[1]).toBe(
      'twin,native,cpu,q4,2,onnxruntime-node,false,128,300,10,64,80,2,160,2,2,500,300,536870912,,',
    );
    expect(lines[5]).toBe(
      'twin,transformers.js,wasm,default,2,webgpu,false,128,250,5,64,16,0.5,512,4,2,,,,,same threads',
    );
    expect(lines[6]).toBe(
      'twin,edgetier,wasm,fp16,2,jspi,false,128,,,64,,,,,,,,,unsupported_dtype: no onnx/model_fp16.onnx | rebuild,',
    );
    expect(lines).toHaveLength(7);
  });

  it('draws an SVG with one bar per measured row and panel, and the error code for failed rows', () => {
    const svg = toSvg(sampleReport());
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="880" height="196"')).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(10); // 5 measured rows × 2 panels
    expect(svg).toContain('<text x="8" y="106">edgetier wasm q8 2t (jspi) *</text>');
    expect(svg).toContain(
      '<text x="8" y="150">stock transformers.js (same threads) wasm default 2t (webgpu)</text>',
    );
    // pp panel: 400 + 10 is the full scale (210 px), so the default row's bar is 200 × 210 / 410.
    expect(svg).toContain('<rect x="300" y="96" width="102.4" height="14" fill="#1f6feb"/>');
    expect(svg.match(/error: unsupported_dtype/g)).toHaveLength(2);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});

describe('bench summary across reports', () => {
  it('puts one line per model: the default against both stock setups and native (same file, fastest per metric)', () => {
    const other = sampleReport();
    other.environment.load_average = [0.5, 0.5, 0.5];
    other.params = { ...other.params, pp: 22 };
    other.models = [{ id: 'real', synthetic: false, mirrors: null, vocab_size: 49152 }];
    other.rows = other.rows.map((r) => ({ ...r, model: 'real' }));
    other.rows[4] = { ...other.rows[4]!, tg_tok_s: stats(20, 1), ttft_ms: stats(900.4, 1) };
    expect(toSummaryMarkdown([sampleReport(), other]).split('\n')).toEqual([
      '| model | load avg at start | edgetier default: tg tok/s | stock, same threads: tg tok/s | stock, defaults: tg tok/s | native, same dtype: tg tok/s | default / stock same threads: pp, tg | default / stock defaults: pp, tg | default / native same dtype: pp, tg | default / native fastest pp row | default / native fastest tg row | TTFT ms (pp N): default, stock same threads, stock defaults |',
      '| --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| twin (twin of Org/Model: random weights) | 1.00 | 20.0 ± 1.0 (q8, 2t) | 16.0 ± 0.5 (default, 2t) | 10.0 ± 0.5 (default, 1t) | 50.0 ± 2.0 (q8, 2t) | 0.80×, 1.25× | 2.00×, 2.00× | 0.50×, 0.40× | 0.50× (q8 2t) | 0.25× (q4 2t) | 640, 512, — (pp 128) |',
      '| real | 0.50 | 20.0 ± 1.0 (q8, 2t) | 20.0 ± 1.0 (default, 2t) | 10.0 ± 0.5 (default, 1t) | 50.0 ± 2.0 (q8, 2t) | 0.80×, 1.00× | 2.00×, 2.00× | 0.50×, 0.40× | 0.50× (q8 2t) | 0.25× (q4 2t) | 640, 900, — (pp 22) |',
      '',
      'Lowest edgetier default / stock (same threads) decode ratio: 1.00× (real).',
      '',
    ]);
  });

  it('gives the per-round range of a report run in rounds', () => {
    const report = sampleReport();
    const split = (row: BenchRow, values: number[]): BenchRow => ({
      ...row,
      tg_tok_s: summarize(values),
      reps_by_round: [1, 1],
    });
    report.rows[1] = split(report.rows[1]!, [40, 60]);
    report.rows[2] = split(report.rows[2]!, [20, 24]);
    report.rows[4] = split(report.rows[4]!, [16, 24]);
    const line = toSummaryMarkdown([report]).split('\n')[2]!;
    expect(line).toContain(
      '| 0.80×, 1.10× (rounds 1.00-1.25×) | 2.00×, 2.20× | 0.50×, 0.44× (rounds 0.40-0.50×) |',
    );
  });

  it('says so when no report has a default row that ran', () => {
    const report = sampleReport();
    report.rows = report.rows.filter((r) => !r.is_default);
    expect(toSummaryMarkdown([report])).toBe('No report holds an edgetier default WASM row that ran.\n');
  });
});

describe('bench report under hostile input (review of issue 19)', () => {
  it('states no "same threads" ratio against a stock row that ORT ran at another thread count', () => {
    const report = sampleReport();
    // Without cross-origin isolation ORT runs 1 thread whatever was asked; run-bench records it.
    Object.assign(report.rows[4]!, { threads: 1, note: 'ORT ran 1 threads, not the 2 asked' });
    const labels = computeRatios(report.rows).map((r) => r.label);
    expect(labels).not.toContain('edgetier default wasm / stock transformers.js, same threads');
    expect(labels[0]).toBe('edgetier default wasm / stock transformers.js, defaults');
    const line = toSummaryMarkdown([{ ...report, ratios: computeRatios(report.rows) }]).split('\n')[2]!;
    expect(line.split(' | ')[3]).toBe('—');
    expect(line.split(' | ')[6]).toBe('—, —');
  });

  it('CSV: a text field cannot start a formula, and a carriage return is quoted', () => {
    const report = sampleReport();
    report.rows = [
      { ...report.rows[0]!, model: '=HYPERLINK("http://x","y")' },
      { ...report.rows[5]!, model: '@SUM(1)', error: { code: 'x', message: '+1\rbad' } },
      { ...report.rows[1]!, model: '-2', dtype: '\tq8' },
    ];
    const lines = toCsv(report).split('\n');
    expect(lines[1]!.startsWith(`"'=HYPERLINK(""http://x"",""y"")",native,`)).toBe(true);
    expect(lines[2]!.startsWith(`'@SUM(1),edgetier,`)).toBe(true);
    expect(lines[2]!.endsWith(`,"x: +1\rbad",`)).toBe(true);
    expect(lines[3]!.startsWith(`'-2,native,cpu,'\tq8,2,`)).toBe(true);
  });

  it('summary: a model id with a pipe or a newline stays in its cell', () => {
    const report = sampleReport();
    report.rows = report.rows.map((r) => ({ ...r, model: 'a|b\nc' }));
    report.models = [{ id: 'a|b\nc', synthetic: false, mirrors: null, vocab_size: 100 }];
    const lines = toSummaryMarkdown([report]).split('\n');
    expect(lines[2]!.startsWith('| a\\|b c | 1.00 | ')).toBe(true);
    expect(toMarkdown(report)).toContain('\n- model a\\|b c\n');
  });

  it('renders a single value without a spread it does not have', () => {
    const one = { mean: 20, sd: 0, n: 1, values: [20] };
    expect(formatStats(one)).toBe('20.00 (n = 1)');
    expect(formatStats({ mean: 20, sd: 0, n: 2, values: [20, 20] })).toBe('20.00 ± 0.00');
  });

  it('Markdown states the warm-up that ran: the time floor and the runs per row', () => {
    const report = sampleReport();
    report.params = { ...report.params, warmup_s: 2 };
    report.rows = report.rows.map((r, i) => ({ ...r, warmup_runs: r.error ? undefined : [i + 1] }));
    expect(toMarkdown(report)).toContain(
      '; 2 repetitions after at least 1 warm-up run and 2 s of warm-up (1-5 runs per row; warmup_runs in bench.json), mean ± sd.',
    );
    report.params = { ...report.params, rounds: 2, reps: 2 };
    expect(toMarkdown(report)).toContain(
      '2 repetitions in 2 rounds (the rows take turns; at least 1 warm-up run and 2 s of warm-up (1-5 runs per row; warmup_runs in bench.json) per row and round; ',
    );
  });

  it('the row budget note says which run timed the repetition when there is no warm-up', () => {
    expect(rowBudgetNote(60, 5, 0)).toBe(
      'Row budget 60 s: a row whose repetition (pp + tg), timed on the first counted run of its ' +
        'first round (there is no warm-up), means 5 repetitions would take longer runs fewer, the same ' +
        'number in every round (at least 2 in all); its note and n say how many.',
    );
    expect(rowBudgetNote(60, 5, 1)).toContain('timed on the last warm-up run of its first round, means');
  });

  it('refuses reports whose numbers are not numbers, negative or inconsistent, instead of crashing the summary', () => {
    const bad = JSON.parse(JSON.stringify(sampleReport()));
    bad.rows[0].tg_tok_s = { mean: 80, sd: 2, n: 2, values: ['79', '81'] };
    bad.rows[1].pp_tok_s = { mean: -400, sd: 10, n: 2, values: [390, 410] };
    bad.rows[2].tg_tok_s = { mean: 20, sd: 1, n: 3, values: [19, 21] };
    bad.rows[2].reps_by_round = 'abc';
    bad.rows[3].warmup_runs = [1, -1];
    bad.environment.load_average = ['x'];
    bad.models = [null];
    expect(validateBenchReport(bad)).toEqual([
      'environment.load_average must be null or an array of numbers',
      'models[0] must be {id, synthetic, mirrors, vocab_size}',
      'rows[0].tg_tok_s must be null or {mean, sd, n, values}',
      'rows[1].pp_tok_s must be null or {mean, sd, n, values}',
      'rows[2].tg_tok_s must be null or {mean, sd, n, values}',
      'rows[2].reps_by_round must be an array of integers of at least 0 when present',
      'rows[3].warmup_runs must be an array of integers of at least 0 when present',
    ]);
  });
});

describe('bench summary when a default row failed', () => {
  it('keeps the model on its own line with the error, instead of dropping it', () => {
    const failed = sampleReport();
    failed.rows[2] = { ...failed.rows[2]!, error: { code: 'load_failed', message: 'out of memory' } };
    const lines = toSummaryMarkdown([sampleReport(), failed]).split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[3]).toBe(
      `| twin (twin of Org/Model: random weights) | 1.00 | edgetier default failed (load_failed): out of memory | ${Array(9).fill('—').join(' | ')} |`,
    );
    expect(toSummaryMarkdown([failed]).split('\n')).toEqual([
      expect.any(String),
      expect.any(String),
      lines[3],
      '',
    ]);
  });
});

describe('bench ratios of a report with two models', () => {
  it('say which model each ratio is of, in the JSON and the Markdown', () => {
    const report = sampleReport();
    const other = report.rows.map((r) => ({ ...r, model: 'other' }));
    report.rows = [...report.rows, ...other];
    report.ratios = computeRatios(report.rows);
    expect(report.ratios.map((r) => r.model)).toEqual([...Array(5).fill('twin'), ...Array(5).fill('other')]);
    const lines = toMarkdown(report)
      .split('\n')
      .filter((l) => l.startsWith('- edgetier default wasm / stock transformers.js, same threads'));
    expect(lines.map((l) => l.split(':')[0])).toEqual([
      '- edgetier default wasm / stock transformers.js, same threads (twin)',
      '- edgetier default wasm / stock transformers.js, same threads (other)',
    ]);
  });
});

describe('a row that fails in a later round', () => {
  it('says which round failed, and runs no more turns', async () => {
    let loads = 0;
    const target: BenchTarget = {
      async load() {
        // Round 1 loads cold then warm (loads 1 and 2); round 2 loads warm only (load 3).
        if (++loads === 3) throw new Error('worker died');
        return { totalMs: 1, downloadMs: 0, initMs: 1 };
      },
      async unload() {},
      async generate(ids, n) {
        return ids.length === 16
          ? metrics({ prefillTokens: 16, ttftMs: 10 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: 10 });
      },
      async peakMemory() {
        return { bytes: null, note: 'test' };
      },
    };
    const turns: string[] = [];
    const done: number[] = [];
    const [outcome] = await measureInRounds(
      [{ open: async () => target, vocabSize: 1000 }],
      { pp: 16, tg: 4, reps: 3, warmup: 0, rounds: 3 },
      {},
      { onTurn: (i, r) => turns.push(`${i}/${r}`), onDone: (_i, r) => done.push(r) },
    );
    expect(turns).toEqual(['0/0', '0/1']);
    expect(done).toEqual([1]);
    expect(outcome).toMatchObject({ round: 1 });
    expect((outcome as { error: Error }).error.message).toBe('worker died');
    expect(roundFailureMessage('worker died', 1, 3)).toBe(
      "round 2 of 3 (the row's earlier rounds are not reported: its rounds must all run): worker died",
    );
    expect(roundFailureMessage('worker died', 0, 3)).toBe('worker died');
  });
});
