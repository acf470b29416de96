/**
 * `edgetier bench --depth` (llama-bench's -d) in its pure parts: the option, the context-length
 * refusal, the untimed fill before every measured run, the method's check that the engine really
 * held the context, rows and ratios per depth, and the report's test names. The real engines at a
 * depth are in bench-cli.test.ts and bench-depth-run.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { depthRefusal } from '../../src/bench/run-bench.ts';
import {
  type DepthEngine,
  depthFitProblem,
  depthReportNote,
  generateAtDepth,
  parseDepths,
  positionsNeeded,
  testName,
} from '../../src/core/bench/depth.ts';
import {
  type BenchTarget,
  measureConfig,
  measureInRounds,
  ppTokPerSec,
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
  depthRatios,
  rowLabel,
  validateBenchReport,
} from '../../src/core/bench/schema.ts';
import { toSummaryMarkdown } from '../../src/core/bench/summary.ts';
import type { GenerateRequest, GenerateResult } from '../../src/core/engine.ts';
import { generationMetrics, scriptedBenchTarget } from '../helpers/bench-fixtures.ts';

const metrics = generationMetrics;

describe('--depth option', () => {
  it('parses a comma-separated list of whole numbers, default [0], duplicates dropped', () => {
    expect(parseDepths(undefined)).toEqual([0]);
    expect(parseDepths('0,2000')).toEqual([0, 2000]);
    expect(parseDepths(' 512 , 0,512')).toEqual([512, 0]);
  });

  it('refuses what is not a depth, naming it', () => {
    expect(() => parseDepths('')).toThrow('--depth is empty.');
    expect(() => parseDepths('0,-5')).toThrow('--depth "-5" is not a whole number of tokens');
    expect(() => parseDepths('1.5')).toThrow('--depth "1.5"');
    expect(() => parseDepths('0,,2000')).toThrow('--depth "" is not a whole number');
    expect(() => parseDepths('2k')).toThrow('--depth "2k"');
  });

  it("refuses a depth that does not fit the model's context, by name, and accepts the last one that does", () => {
    // pp: depth + pp + 1 generated; tg: depth + 1 prompt token + tg + 1 generated.
    expect(positionsNeeded(2000, 22, 32)).toEqual({ pp: 2023, tg: 2034 });
    expect(positionsNeeded(100, 0, 32)).toEqual({ pp: 0, tg: 134 });
    expect(depthFitProblem(2014, 22, 32, 2048, 'tiny')).toBeNull();
    const problem = depthFitProblem(2015, 22, 32, 2048, 'tiny');
    expect(problem).toBe(
      '--depth 2015 does not fit tiny: the tests need depth + 1 + tg + 1 = 2049 positions, and its context ' +
        'holds 2048 (max_position_embeddings); lower --depth to 2014 or less, or --pp/--tg.',
    );
    expect(depthFitProblem(2000, 512, 0, 2048, 'tiny')).toContain('depth + pp + 1 = 2513 positions');
  });

  it('names tests as llama-bench does', () => {
    expect(testName('pp', 512)).toBe('pp512');
    expect(testName('pp', 512, 0)).toBe('pp512');
    expect(testName('tg', 128, 2000)).toBe('tg128 @ d2000');
  });

  it('refuses the stock baseline at a depth by name, and no other row kind', () => {
    const key = { model: 'm', device: 'wasm' as const, dtype: 'q8', threads: 2 };
    expect(depthRefusal({ ...key, engine: 'transformers.js', ort_build: 'webgpu' })).toContain(
      'The stock transformers.js baseline runs at depth 0 only',
    );
    expect(depthRefusal({ ...key, engine: 'edgetier', ort_build: 'jspi' })).toBeNull();
    expect(depthRefusal({ ...key, engine: 'edgetier', ort_build: 'edgetier-wasm' })).toBeNull();
    expect(
      depthRefusal({ ...key, engine: 'native', device: 'cpu', ort_build: 'onnxruntime-node' }),
    ).toBeNull();
  });
});

/** A fake engine that keeps a token cache the way model-session does (prefix reuse, never the last token). */
function cachingEngine(log: string[]): DepthEngine {
  let cached: number[] = [];
  return {
    async resetConversation() {
      log.push('reset');
      cached = [];
    },
    async generate(request: GenerateRequest): Promise<GenerateResult> {
      const ids = request.promptIds!;
      let shared = 0;
      while (shared < cached.length && shared < ids.length - 1 && cached[shared] === ids[shared]) shared++;
      if (shared < cached.length) cached = cached.slice(0, shared);
      const n = request.sampling!.maxNewTokens!;
      log.push(`generate ${ids.length} (${shared} cached) +${n}`);
      cached = [...ids, ...Array<number>(n - 1).fill(7)];
      return {
        text: '',
        promptIds: ids,
        outputIds: Array<number>(n).fill(7),
        finishReason: 'length',
        metrics: metrics({
          prefillTokens: ids.length - shared,
          cachedPromptTokens: shared,
          decodeTokens: n - 1,
        }),
      };
    },
  };
}

describe('the depth fill', () => {
  it('brings the cache to exactly the context in its own request, then runs the test on top of it', async () => {
    const log: string[] = [];
    const engine = cachingEngine(log);
    // A cache left over from an earlier run must not count as context.
    await engine.generate({ promptIds: [1, 2, 3, 4, 5, 6], sampling: { maxNewTokens: 3 } });
    const context = syntheticPromptIds(40, 1000, 3);
    const result = await generateAtDepth(engine, context, [9, 8, 7], 1);
    expect(log.slice(1)).toEqual(['generate 40 (0 cached) +1', 'generate 43 (40 cached) +1']);
    expect(result.metrics).toMatchObject({ prefillTokens: 3, cachedPromptTokens: 40 });
    // The next run (a tg after this pp): the fill cuts the cache back and reads one context token again.
    log.length = 0;
    const tg = await generateAtDepth(engine, context, [5], 4);
    expect(log).toEqual(['generate 40 (39 cached) +1', 'generate 41 (40 cached) +4']);
    expect(tg.metrics).toMatchObject({ prefillTokens: 1, cachedPromptTokens: 40, decodeTokens: 3 });
    // Depth 0: the plain run, no fill.
    log.length = 0;
    await generateAtDepth(engine, [], [9, 8, 7], 5);
    expect(log).toEqual(['reset', 'generate 3 (0 cached) +5']);
  });

  it('an interrupted fill ends the run there: the test does not read the context again', async () => {
    const log: string[] = [];
    const engine = cachingEngine(log);
    const interrupted: DepthEngine = {
      resetConversation: () => engine.resetConversation(),
      async generate(request) {
        // The app's Stop landed during the fill: the engine ends it with what it had.
        const result = await engine.generate(request);
        return { ...result, finishReason: 'aborted' };
      },
    };
    const context = syntheticPromptIds(40, 1000, 3);
    const result = await generateAtDepth(interrupted, context, [9, 8, 7], 4);
    expect(log).toEqual(['generate 40 (0 cached) +1']);
    expect(result.finishReason).toBe('aborted');
    // The method's checks then refuse its metrics (the app shows "Stopped" and no figures).
    expect(() => tgTokPerSec(result.metrics, 4, 40)).toThrow('tg 4: the engine decoded 0 tokens, not 4.');
  });

  it("the report's note says where the fills are timed, and warns of --warmup 0's cold depth-0 rows", () => {
    const warm = depthReportNote(1);
    expect(warm).toContain(
      "Each turn's first fill, which reads all D after the load, runs before the warm-up",
    );
    expect(warm).toContain('WebGPU, reads all D again');
    expect(warm).not.toContain('--warmup 0');
    expect(depthReportNote(0)).toBe(
      `${warm} With --warmup 0 the depth-0 rows' first counted run is the engine's first after its load, ` +
        `while a depth row's fill has run the engine before its first: "## Depth" compares a warmer engine with a colder one.`,
    );
  });

  it('passes every pp and tg run (warm-up too) the same seeded context, and checks the engine held it', async () => {
    const contexts: (readonly number[] | undefined)[] = [];
    const target = (cachedReported: (depth: number) => number): BenchTarget =>
      scriptedBenchTarget(async (ids, n, context) => {
        contexts.push(context);
        const depth = context?.length ?? 0;
        return ids.length === 16
          ? metrics({ prefillTokens: 16, cachedPromptTokens: cachedReported(depth), ttftMs: 100 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: 10, cachedPromptTokens: cachedReported(depth) });
      });
    const params = { pp: 16, tg: 4, reps: 2, warmup: 1 };
    const m = await measureConfig(
      target((d) => d),
      params,
      1000,
      undefined,
      { depth: 300 },
    );
    expect(m.ppTokPerSec.values).toEqual([160, 160]);
    // The turn's own fill (a tg of 1 token), the warm-up's pp and tg, two counted repetitions.
    expect(contexts).toHaveLength(7);
    for (const c of contexts) expect(c).toEqual(syntheticPromptIds(300, 1000, 3));
    contexts.length = 0;
    await measureConfig(
      target(() => 0),
      params,
      1000,
    );
    // Depth 0 passes no context and has no fill: the plain method, as before.
    expect(contexts).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    // An engine that re-read the context (no reuse) would time the fill: refused.
    await expect(
      measureConfig(
        target(() => 0),
        params,
        1000,
        undefined,
        { depth: 300 },
      ),
    ).rejects.toThrow('pp 16 @ d300: the engine prefilled 16 tokens (0 cached), not 16 (300 cached).');
    expect(() =>
      tgTokPerSec(metrics({ decodeTokens: 4, decodeTokPerSec: 9, cachedPromptTokens: 299 }), 4, 300),
    ).toThrow('tg 4 @ d300: the engine found 299 tokens in its cache, not 300.');
    expect(ppTokPerSec(metrics({ prefillTokens: 16, cachedPromptTokens: 300, ttftMs: 50 }), 16, 300)).toBe(
      320,
    );
  });

  it("keeps a turn's first fill (all D tokens, after the load) out of the warm-up and the row budget", async () => {
    // A fake clock: the engine's fill after a load costs 8 s (2000 tokens read), every later
    // request 0.1 s (a cut-back fill, or the test itself).
    let clock = 0;
    let filled = false;
    const steps: string[] = [];
    const target = scriptedBenchTarget(
      async (ids, n, context) => {
        clock += filled ? 100 : 8000;
        filled = true;
        const cached = context?.length ?? 0;
        return ids.length === 22
          ? metrics({ prefillTokens: 22, cachedPromptTokens: cached, ttftMs: 100 })
          : metrics({ decodeTokens: n - 1, decodeTokPerSec: 10, cachedPromptTokens: cached });
      },
      () => {
        filled = false;
      },
    );
    const m = await measureConfig(
      target,
      { pp: 22, tg: 4, reps: 12, warmup: 1, warmup_s: 1 },
      1000,
      (step) =>
        steps.push(step.kind === 'run' ? `${step.test}${step.warmup ? ' warm-up' : ''}` : `${step.kind}`),
      { depth: 2000, rowBudgetMs: 60_000, now: () => clock, warmOnly: true },
    );
    // A repetition is 0.2 s, so the budget runs all 12, and the warm-up floor (1 s) takes five runs.
    expect(m.note).toBeNull();
    expect(m.tgTokPerSec.n).toBe(12);
    expect(m.warmupRuns).toBe(5);
    expect(steps.slice(0, 4)).toEqual(['load', 'fill', 'pp warm-up', 'tg warm-up']);
    expect(steps.filter((s) => s === 'fill')).toHaveLength(1);
  });

  it('measureInRounds gives each row its own depth', async () => {
    const seen: number[] = [];
    const open = async (): Promise<BenchTarget> =>
      scriptedBenchTarget(async (_ids, n, context) => {
        seen.push(context?.length ?? 0);
        return metrics({
          decodeTokens: n - 1,
          decodeTokPerSec: 10,
          cachedPromptTokens: context?.length ?? 0,
        });
      });
    await measureInRounds(
      [
        { open, vocabSize: 500 },
        { open, vocabSize: 500, depth: 64 },
      ],
      { pp: 0, tg: 2, reps: 1, warmup: 0 },
    );
    // The depth row fills its cache on its own first, then runs its one repetition.
    expect(seen).toEqual([0, 64, 64]);
  });
});

const stats = (mean: number, sd: number) => ({ mean, sd, n: 2, values: [mean - sd, mean + sd] });

function row(partial: Partial<BenchRow>): BenchRow {
  return {
    ...benchRow(
      {
        model: 'twin',
        engine: 'edgetier',
        device: 'wasm',
        dtype: 'q8',
        threads: 2,
        ort_build: 'jspi',
        depth: 0,
      },
      { code: 'x', message: 'y' },
    ),
    error: null,
    peak_memory_note: '',
    ...partial,
  };
}

function depthReport(): BenchReport {
  const rows = [
    row({
      engine: 'native',
      device: 'cpu',
      ort_build: 'onnxruntime-node',
      pp_tok_s: stats(400, 4),
      tg_tok_s: stats(50, 1),
    }),
    row({
      engine: 'native',
      device: 'cpu',
      ort_build: 'onnxruntime-node',
      depth: 2000,
      pp_tok_s: stats(200, 4),
      tg_tok_s: stats(40, 1),
    }),
    row({ is_default: true, pp_tok_s: stats(200, 5), tg_tok_s: stats(20, 1) }),
    row({ is_default: true, depth: 2000, pp_tok_s: stats(50, 5), tg_tok_s: stats(5, 1) }),
    row({
      engine: 'transformers.js',
      dtype: 'default',
      ort_build: 'webgpu',
      setup: 'same threads',
      tg_tok_s: stats(16, 1),
    }),
    row({
      engine: 'transformers.js',
      dtype: 'default',
      ort_build: 'webgpu',
      setup: 'same threads',
      depth: 2000,
      error: { code: 'bad_request', message: 'The stock transformers.js baseline runs at depth 0 only' },
    }),
  ];
  return {
    schema: BENCH_SCHEMA,
    created_at: '2026-01-01T00:00:00.000Z',
    command: 'edgetier bench twin --depth 0,2000',
    params: { pp: 22, tg: 32, reps: 2, warmup: 1, depth: [0, 2000] },
    environment: {
      cpu_model: 'x',
      cpu_cores: 2,
      os: 'linux',
      node_version: null,
      browser_version: null,
      webgpu: null,
      webgpu_unavailable_reason: null,
      cross_origin_isolated: null,
      jspi: null,
      onnxruntime_node_version: null,
      onnxruntime_web_version: null,
      transformers_version: null,
      load_average: null,
    },
    models: [{ id: 'twin', synthetic: true, mirrors: 'x/y', vocab_size: 1000 }],
    rows,
    ratios: computeRatios(rows),
    notes: [],
  };
}

describe('a report with depths', () => {
  it('compares rows of one depth only, and each depth row with its configuration at depth 0', () => {
    const report = depthReport();
    const labels = report.ratios.map((r) => `${r.depth ?? 0} ${r.label}: ${r.pp} ${r.tg}`);
    expect(labels).toEqual([
      '0 edgetier default wasm / stock transformers.js, same threads: null 1.25',
      '0 edgetier default wasm / native onnxruntime-node, same dtype (same file): 0.5 0.4',
      '0 edgetier default wasm / native onnxruntime-node, fastest pp row (pp only): 0.5 null',
      '0 edgetier default wasm / native onnxruntime-node, fastest tg row (tg only): null 0.4',
      // At depth 2000 the stock row failed and native's depth-0 row is not a denominator.
      '2000 edgetier default wasm / native onnxruntime-node, same dtype (same file): 0.25 0.125',
      '2000 edgetier default wasm / native onnxruntime-node, fastest pp row (pp only): 0.25 null',
      '2000 edgetier default wasm / native onnxruntime-node, fastest tg row (tg only): null 0.125',
    ]);
    expect(report.ratios[4]!.numerator).toBe('edgetier wasm q8 2t (jspi) @ d2000');
    expect(depthRatios(report.rows).map((d) => [rowLabel(d.base), d.pp, d.tg])).toEqual([
      ['native cpu q8 2t (onnxruntime-node)', 0.5, 0.8],
      ['edgetier wasm q8 2t (jspi)', 0.25, 0.25],
    ]);
    expect(validateBenchReport(JSON.parse(JSON.stringify(report)))).toEqual([]);
    expect(validateBenchReport({ ...report, params: { ...report.params, depth: [] } })).toContain(
      'params.depth must be a non-empty array of integers of at least 0 when present',
    );
    expect(validateBenchReport({ ...report, rows: [{ ...report.rows[0]!, depth: -1 }] })).toContain(
      'rows[0].depth must be an integer of at least 0 when present',
    );
  });

  it("names each row's tests llama-bench style in Markdown, CSV and SVG, and states the slow-down", () => {
    const report = depthReport();
    const md = toMarkdown(report);
    expect(md).toContain('| threads | ORT build | tests | pp22 tok/s | tg32 tok/s |');
    expect(md).toContain('| jspi | pp22 @ d2000, tg32 @ d2000 | 50.00 ± 5.00 | 5.00 ± 1.00 |');
    expect(md).toContain('| jspi | pp22, tg32 | 200.00 ± 5.00 | 20.00 ± 1.00 |');
    expect(md).toContain('## Depth');
    expect(md).toContain(
      '- native cpu q8 2t (onnxruntime-node): tg32 @ d2000 / tg32 0.80×, pp22 @ d2000 / pp22 0.50×',
    );
    expect(md).toContain(
      '- edgetier wasm q8 2t (jspi): tg32 @ d2000 / tg32 0.25×, pp22 @ d2000 / pp22 0.25×',
    );
    const csv = toCsv(report).trimEnd().split('\n');
    expect(csv[0]!.endsWith(',setup,depth,pp_test,tg_test')).toBe(true);
    expect(csv[2]!.endsWith(',2000,pp22 @ d2000,tg32 @ d2000')).toBe(true);
    expect(csv[1]!.endsWith(',0,pp22,tg32')).toBe(true);
    expect(toSvg(report)).toContain('edgetier wasm q8 2t (jspi) @ d2000 *');
    // The summary gives each depth of the default row its own line.
    const summary = toSummaryMarkdown([report]);
    expect(summary).toContain('| twin (twin of x/y');
    expect(summary).toContain('| twin @ d2000 (twin of x/y');
    // A report without depth rows keeps its table and CSV columns as they were.
    const plain = { ...report, rows: report.rows.filter((r) => !r.depth) };
    expect(toMarkdown(plain)).not.toContain('tests');
    expect(toMarkdown(plain)).not.toContain('## Depth');
    expect(toCsv(plain).split('\n')[0]!.endsWith(',error,setup')).toBe(true);
  });
});
