import { describe, expect, it } from 'vitest';
import {
  type BenchTarget,
  budgetNote,
  type ConfigMeasurement,
  measureConfig,
  mergeRounds,
  ppTokPerSec,
  repsByRound,
  repsWithinBudget,
  syntheticPromptIds,
  tgTokPerSec,
} from '../../src/core/bench/method.ts';
import { toCsv, toMarkdown, toSvg } from '../../src/core/bench/render.ts';
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
import type { GenerationMetrics } from '../../src/core/metrics.ts';

function metrics(partial: Partial<GenerationMetrics>): GenerationMetrics {
  return {
    prefillTokens: 0,
    cachedPromptTokens: 0,
    ttftMs: 0,
    prefillTokPerSec: 0,
    decodeTokens: 0,
    decodeTokPerSec: 0,
    itlP50Ms: 0,
    itlP95Ms: 0,
    totalMs: 0,
    ...partial,
  };
}

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
    expect(repsWithinBudget(5, 1_000, 60_000)).toBe(5);
    expect(repsWithinBudget(5, 12_000, 60_000)).toBe(5);
    expect(repsWithinBudget(5, 12_001, 60_000)).toBe(4);
    expect(repsWithinBudget(5, 20_000, 60_000)).toBe(3);
    expect(repsWithinBudget(5, 40_000, 60_000)).toBe(2);
    expect(repsWithinBudget(5, 300_000, 60_000)).toBe(2);
    expect(repsWithinBudget(1, 300_000, 60_000)).toBe(1);
    expect(repsWithinBudget(5, 300_000, 0)).toBe(5);
    expect(budgetNote(2, 5, 60_000, 41_600)).toBe('2 of 5 repetitions: row budget 60 s (one took ~42 s)');
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

describe('rounds', () => {
  it('shares the repetitions out over the rounds, earlier rounds first', () => {
    expect(repsByRound(5, 1)).toEqual([5]);
    expect(repsByRound(5, 2)).toEqual([3, 2]);
    expect(repsByRound(6, 3)).toEqual([2, 2, 2]);
    expect(repsByRound(5, 5)).toEqual([1, 1, 1, 1, 1]);
    expect(repsByRound(7, 3)).toEqual([3, 2, 2]);
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
      ...extra,
    };
  }

  it("merges a row's rounds in order: values, the first round's loads, the highest memory, notes by round", () => {
    const merged = mergeRounds([
      part([10, 12]),
      part([20], {
        coldLoad: { totalMs: 300, downloadMs: 0, initMs: 300 },
        peakMemory: { bytes: 300, note: 'heap' },
        note: '1 of 2 repetitions: row budget 30 s (one took ~40 s)',
      }),
      part([30], { peakMemory: { bytes: 200, note: 'heap' } }),
    ]);
    expect(merged.tgTokPerSec.values).toEqual([10, 12, 20, 30]);
    expect(merged.tgTokPerSec.mean).toBe(18);
    expect(merged.ppTokPerSec.values).toEqual([100, 120, 200, 300]);
    expect(merged.coldLoad.downloadMs).toBe(600);
    expect(merged.peakMemory).toEqual({ bytes: 300, note: 'heap; the highest of 3 rounds' });
    expect(merged.note).toBe('round 2: 1 of 2 repetitions: row budget 30 s (one took ~40 s)');
    expect(merged.repsByRound).toEqual([2, 1, 1]);
    const single = part([5]);
    expect(mergeRounds([single])).toBe(single);
  });

  it('states each ratio inside every round as well, from the values each round ran', () => {
    const edge = row({
      is_default: true,
      tg_tok_s: { mean: 0, sd: 0, n: 3, values: [30, 34, 40] },
      pp_tok_s: null,
      reps_by_round: [2, 1],
    });
    const stock = row({
      engine: 'transformers.js',
      dtype: 'default',
      threads: 1,
      ort_build: 'webgpu',
      tg_tok_s: { mean: 0, sd: 0, n: 3, values: [20, 24, 25] },
      reps_by_round: [2, 1],
    });
    expect(roundRatios(edge, stock, (r) => r.tg_tok_s)).toEqual([32 / 22, 40 / 25]);
    expect(roundRatios(edge, stock, (r) => r.pp_tok_s)).toBeNull();
    expect(roundRatios(edge, { ...stock, reps_by_round: [1, 1, 1] }, (r) => r.tg_tok_s)).toBeNull();
    const [ratio] = computeRatios([edge, stock]);
    expect(ratio).toMatchObject({ tg_by_round: [32 / 22, 40 / 25], pp_by_round: null });
    const report = { ...sampleReport(), params: { pp: 128, tg: 64, reps: 3, warmup: 1, rounds: 2 } };
    report.rows = [edge, stock];
    report.ratios = computeRatios(report.rows);
    const md = toMarkdown(report);
    expect(md).toContain(
      '3 repetitions in 2 rounds (the rows take turns; 1 warm-up per row and round), mean ± sd.',
    );
    expect(md).toContain('; tg by round: 1.45×, 1.60× (median 1.53×)');
    expect(validateBenchReport(JSON.parse(JSON.stringify(report)))).toEqual([]);
    expect(validateBenchReport({ ...report, params: { ...report.params, rounds: 0 } })).toContain(
      'params.rounds must be an integer of at least 1 when present',
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
  const rows = [
    row({
      engine: 'native',
      device: 'cpu',
      dtype: 'q4',
      ort_build: 'onnxruntime-node',
      pp_tok_s: stats(800, 10),
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
    row({ is_default: true, pp_tok_s: stats(200, 5), tg_tok_s: stats(20, 1), ttft_ms: stats(640, 10) }),
    row({
      engine: 'transformers.js',
      dtype: 'default',
      threads: 1,
      ort_build: 'webgpu',
      pp_tok_s: stats(100, 5),
      tg_tok_s: stats(10, 0.5),
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
  it('states edgetier default WASM as ratios to stock transformers.js and to the fastest native row', () => {
    expect(sampleReport().ratios).toEqual([
      {
        label: 'edgetier default wasm / stock transformers.js',
        numerator: 'edgetier wasm q8 2t (jspi)',
        denominator: 'stock transformers.js wasm default 1t (webgpu)',
        pp: 2,
        tg: 2,
      },
      {
        label: 'edgetier default wasm / native onnxruntime-node (fastest cpu row)',
        numerator: 'edgetier wasm q8 2t (jspi)',
        denominator: 'native cpu q4 2t (onnxruntime-node)',
        pp: 0.25,
        tg: 0.25,
      },
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
| twin | native | cpu | q4 | 2 | onnxruntime-node | 800.00 ± 10.00 | 80.00 ± 2.00 | 160 | 500 / 300 | 512 |  |
| twin | edgetier | wasm | q8 | 2 | jspi | 200.00 ± 5.00 | 20.00 ± 1.00 | 640 | — | — | edgetier default |
| twin | transformers.js | wasm | default | 1 | webgpu | 100.00 ± 5.00 | 10.00 ± 0.50 | — | — | — |  |
| twin | edgetier | wasm | fp16 | 2 | jspi | — | — | — | — | — | error (unsupported_dtype): no onnx/model_fp16.onnx \\| rebuild |

## Ratios

- edgetier default wasm / stock transformers.js: pp 2.00×, tg 2.00× (edgetier wasm q8 2t (jspi) against stock transformers.js wasm default 1t (webgpu))
- edgetier default wasm / native onnxruntime-node (fastest cpu row): pp 0.25×, tg 0.25× (edgetier wasm q8 2t (jspi) against native cpu q4 2t (onnxruntime-node))

## Notes

- a note
`);
  });

  it("shows a row's budget note in the Markdown note column and its actual n in the CSV", () => {
    const report = sampleReport();
    const cut = { mean: 20, sd: 1, n: 2, values: [19, 21] };
    Object.assign(report.rows[1]!, {
      tg_tok_s: cut,
      pp_tok_s: cut,
      note: '2 of 5 repetitions: row budget 60 s (one took ~40 s)',
    });
    report.params.reps = 5;
    expect(toMarkdown(report)).toContain(
      '| edgetier default; 2 of 5 repetitions: row budget 60 s (one took ~40 s) |',
    );
    expect(toCsv(report).split('\n')[2]).toBe(
      'twin,edgetier,wasm,q8,2,jspi,true,128,20,1,64,20,1,640,10,2,,,,',
    );
  });

  it('renders CSV with one line per row, quoting where needed', () => {
    const lines = toCsv(sampleReport()).trimEnd().split('\n');
    expect(lines[0]).toBe(
      'model,engine,device,dtype,threads,ort_build,is_default,pp_tokens,pp_tok_s_mean,pp_tok_s_sd,tg_tokens,tg_tok_s_mean,tg_tok_s_sd,ttft_ms_mean,ttft_ms_sd,reps,load_cold_ms,load_warm_ms,peak_memory_bytes,error',
    );
    expect(lines[1]).toBe(
      'twin,native,cpu,q4,2,onnxruntime-node,false,128,800,10,64,80,2,160,2,2,500,300,536870912,',
    );
    expect(lines[4]).toBe(
      'twin,edgetier,wasm,fp16,2,jspi,false,128,,,64,,,,,,,,,unsupported_dtype: no onnx/model_fp16.onnx | rebuild',
    );
    expect(lines).toHaveLength(5);
  });

  it('draws an SVG with one bar per measured row and panel, and the error code for failed rows', () => {
    const svg = toSvg(sampleReport());
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="880" height="152"')).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(6); // 3 measured rows × 2 panels
    expect(svg).toContain('<text x="8" y="84">edgetier wasm q8 2t (jspi) *</text>');
    // pp panel: 800 + 10 is the full scale (210 px), so the default row's bar is 200 × 210 / 810.
    expect(svg).toContain('<rect x="300" y="74" width="51.9" height="14" fill="#1f6feb"/>');
    expect(svg.match(/error: unsupported_dtype/g)).toHaveLength(2);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});

describe('bench summary across reports', () => {
  it('puts one line per model: native fastest, stock, default and their ratios, and names the lowest', () => {
    const other = sampleReport();
    other.environment.load_average = [0.5, 0.5, 0.5];
    other.params = { ...other.params, pp: 22 };
    other.models = [{ id: 'real', synthetic: false, mirrors: null, vocab_size: 49152 }];
    other.rows = other.rows.map((r) => ({ ...r, model: 'real' }));
    other.rows[2] = { ...other.rows[2]!, tg_tok_s: stats(16, 1), ttft_ms: stats(900.4, 1) };
    expect(toSummaryMarkdown([sampleReport(), other]).split('\n')).toEqual([
      '| model | load avg at start | native fastest: tg tok/s | stock transformers.js: tg tok/s | edgetier default: tg tok/s | default / stock: pp, tg | default / native fastest: pp, tg | TTFT ms (pp N): default, stock |',
      '| --- | ---: | --- | --- | --- | ---: | ---: | ---: |',
      '| twin (twin of Org/Model: random weights) | 1.00 | 80.0 ± 2.0 (q4, 2t) | 10.0 ± 0.5 (default, 1t) | 20.0 ± 1.0 (q8, 2t) | 2.00×, 2.00× | 0.25×, 0.25× | 640, — (pp 128) |',
      '| real | 0.50 | 80.0 ± 2.0 (q4, 2t) | 16.0 ± 1.0 (default, 1t) | 20.0 ± 1.0 (q8, 2t) | 2.00×, 1.25× | 0.25×, 0.25× | 640, 900 (pp 22) |',
      '',
      'Lowest edgetier default / stock decode ratio: 1.25× (real).',
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
    report.rows = [
      split(report.rows[0]!, [80, 100]),
      split(report.rows[1]!, [20, 24]),
      split(report.rows[2]!, [10, 20]),
    ];
    const line = toSummaryMarkdown([report]).split('\n')[2]!;
    expect(line).toContain('| 2.00×, 1.47× (rounds 1.20-2.00×) | 0.25×, 0.24× (rounds 0.24-0.25×) |');
  });

  it('says so when no report has a default row that ran', () => {
    const report = sampleReport();
    report.rows = report.rows.filter((r) => !r.is_default);
    expect(toSummaryMarkdown([report])).toBe('No report holds an edgetier default WASM row that ran.\n');
  });
});
