/**
 * The bench report's default row since runtime 'auto' (issue 12): it runs what the app runs on wasm
 * (edgetier's CPU engine for q8/q4), says what 'auto' ran, and is compared with ORT-web on the same
 * dtype and threads (the previous default), in the ratios, the Markdown and the --summary column;
 * reports written before 'auto' (the committed presets) still summarise as they did.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toCsv, toMarkdown } from '../../src/core/bench/render.ts';
import {
  BENCH_SCHEMA,
  type BenchReport,
  type BenchRow,
  benchRow,
  computeRatios,
  rowLabel,
  runtimeOutcome,
  validateBenchReport,
} from '../../src/core/bench/schema.ts';
import { toSummaryMarkdown } from '../../src/core/bench/summary.ts';
import { NO_GPU_BENCH_ENVIRONMENT } from '../helpers/bench-fixtures.ts';

/** Two rounds of one value each: the per-round ratios are the values' ratios. */
const twoRounds = (a: number, b: number) => ({ mean: (a + b) / 2, sd: 0, n: 2, values: [a, b] });

function row(partial: Partial<BenchRow>): BenchRow {
  return {
    ...benchRow(
      { model: 'twin', engine: 'edgetier', device: 'wasm', dtype: 'q8', threads: 2, ort_build: 'jspi' },
      { code: 'x', message: 'y' },
    ),
    error: null,
    peak_memory_note: '',
    reps_by_round: [1, 1],
    ...partial,
  };
}

/** What `--baseline` writes now: the default row on 'auto' (the CPU engine), ORT-web's row beside it. */
function autoReport(): BenchReport {
  const rows = [
    row({
      engine: 'native',
      device: 'cpu',
      dtype: 'q4',
      ort_build: 'onnxruntime-node',
      pp_tok_s: twoRounds(300, 300),
      tg_tok_s: twoRounds(80, 80),
    }),
    row({
      engine: 'native',
      device: 'cpu',
      ort_build: 'onnxruntime-node',
      pp_tok_s: twoRounds(400, 400),
      tg_tok_s: twoRounds(50, 50),
    }),
    // ORT-web pinned, q8 at 2 threads: the previous default.
    row({ runtime: 'onnxruntime', pp_tok_s: twoRounds(150, 150), tg_tok_s: twoRounds(20, 25) }),
    // ORT-web at another thread count: not the previous default.
    row({ runtime: 'onnxruntime', threads: 1, pp_tok_s: twoRounds(90, 90), tg_tok_s: twoRounds(15, 15) }),
    row({
      is_default: true,
      runtime: 'auto',
      ort_build: 'edgetier-wasm',
      pp_tok_s: twoRounds(120, 120),
      tg_tok_s: twoRounds(60, 50),
    }),
    row({
      engine: 'transformers.js',
      dtype: 'default',
      ort_build: 'webgpu',
      setup: 'same threads',
      pp_tok_s: twoRounds(250, 250),
      tg_tok_s: twoRounds(16, 16),
    }),
  ];
  return {
    schema: BENCH_SCHEMA,
    created_at: '2026-11-26T00:00:00.000Z',
    command: 'edgetier bench twin --baseline',
    params: { pp: 22, tg: 64, reps: 2, warmup: 1, rounds: 2 },
    environment: NO_GPU_BENCH_ENVIRONMENT,
    models: [{ id: 'twin', synthetic: false, mirrors: null, vocab_size: 49152 }],
    rows,
    ratios: computeRatios(rows),
    notes: [],
  };
}

describe("bench's default row on runtime 'auto'", () => {
  it('is labelled with the runtime auto ran, and compared with ORT-web on the same dtype and threads, per round too', () => {
    const report = autoReport();
    const edge = report.rows[4]!;
    expect(rowLabel(edge)).toBe('edgetier wasm q8 2t (edgetier-wasm, auto)');
    const previous = report.ratios.find((r) => r.label.includes('ORT-web'));
    expect(previous).toEqual({
      label: 'edgetier default wasm / ORT-web (previous default), same dtype and threads',
      model: 'twin',
      numerator: 'edgetier wasm q8 2t (edgetier-wasm, auto)',
      denominator: 'edgetier wasm q8 2t (jspi)',
      pp: 0.8,
      tg: 55 / 22.5,
      pp_by_round: [0.8, 0.8],
      tg_by_round: [3, 2],
    });
    // It comes after the ratios a report stated before, which keep their denominators.
    expect(report.ratios.map((r) => r.label)).toEqual([
      'edgetier default wasm / stock transformers.js, same threads',
      'edgetier default wasm / native onnxruntime-node, same dtype (same file)',
      'edgetier default wasm / native onnxruntime-node, fastest pp row (pp only)',
      'edgetier default wasm / native onnxruntime-node, fastest tg row (tg only)',
      'edgetier default wasm / ORT-web (previous default), same dtype and threads',
    ]);
    expect(validateBenchReport(JSON.parse(JSON.stringify(report)))).toEqual([]);
  });

  it('Markdown names the default row, what auto ran, and the previous default; the CSV gains a runtime column', () => {
    const report = autoReport();
    const md = toMarkdown(report);
    expect(md).toContain(
      '| twin | edgetier | wasm | q8 | 2 | edgetier-wasm | 120.00 ± 0.00 | 55.00 ± 0.00 | — | — | — | edgetier default (auto ran edgetier-wasm) |',
    );
    expect(md).toContain(
      '| twin | edgetier | wasm | q8 | 2 | jspi | 150.00 ± 0.00 | 22.50 ± 0.00 | — | — | — | ORT-web (previous default) |',
    );
    // The 1-thread ORT-web row is not the previous default.
    expect(md).toContain(
      '| twin | edgetier | wasm | q8 | 1 | jspi | 90.00 ± 0.00 | 15.00 ± 0.00 | — | — | — |  |',
    );
    expect(md).toContain(
      '- edgetier default wasm / ORT-web (previous default), same dtype and threads: pp 0.80×, tg 2.44× (edgetier wasm q8 2t (edgetier-wasm, auto) against edgetier wasm q8 2t (jspi)); pp by round: 0.80×, 0.80× (median 0.80×); tg by round: 3.00×, 2.00× (median 2.50×)',
    );
    const csv = toCsv(report).trimEnd().split('\n');
    expect(csv[0]!.endsWith(',error,setup,runtime')).toBe(true);
    expect(csv[5]!.startsWith('twin,edgetier,wasm,q8,2,edgetier-wasm,true,')).toBe(true);
    expect(csv[5]!.endsWith(',auto')).toBe(true);
    expect(csv[1]!.endsWith(',')).toBe(true); // a native row asks for no CPU runtime
  });

  it('--summary gains a column for the ratio to the previous default, with its range over the rounds', () => {
    const lines = toSummaryMarkdown([autoReport()]).split('\n');
    const header = lines[0]!.split(' | ');
    const column = header.indexOf("default / ORT-web previous default (ORT's plan, same threads): pp, tg");
    expect(column).toBe(11);
    expect(lines[1]!.split(' | ')).toHaveLength(header.length);
    expect(lines[2]!.split(' | ')[column]).toBe('0.80×, 2.44× (q8 2t; rounds 2.00-3.00×)');
    // A report without that row (the default row failed, or it predates 'auto') shows a dash there.
    const failed = autoReport();
    failed.rows[2]!.error = { code: 'load_failed', message: 'out of memory' };
    const both = toSummaryMarkdown([autoReport(), failed]).split('\n');
    expect(both[3]!.split(' | ')[column]).toBe('—, —');
  });

  it('a failed default row keeps its line, with a dash in every column, the new one included', () => {
    const report = autoReport();
    report.rows[4]!.error = { code: 'unsupported_architecture', message: 'no' };
    const lines = toSummaryMarkdown([autoReport(), report]).split('\n');
    expect(lines[3]!.split(' | ')).toHaveLength(lines[0]!.split(' | ').length);
    expect(lines[3]).toContain('edgetier default failed (unsupported_architecture): no');
  });

  it("validates the row's runtime field by name", () => {
    const bad = JSON.parse(JSON.stringify(autoReport()));
    bad.rows[4].runtime = 'tvm';
    expect(validateBenchReport(bad)).toEqual([
      'rows[4].runtime must be "auto", "onnxruntime" or "edgetier" when present',
    ]);
  });

  it("refuses a runtime where no CPU runtime was asked for, and ORT pinned under the CPU engine's build", () => {
    const bad = JSON.parse(JSON.stringify(autoReport()));
    bad.rows[0].runtime = 'auto'; // a native row
    bad.rows[5].runtime = 'edgetier'; // the stock row
    bad.rows[4].runtime = 'onnxruntime'; // the default row, which ran edgetier-wasm
    expect(validateBenchReport(bad)).toEqual([
      "rows[0].runtime is only for edgetier's rows on device wasm",
      'rows[4] pins runtime "onnxruntime" yet names edgetier\'s CPU engine (ort_build "edgetier-wasm")',
      "rows[5].runtime is only for edgetier's rows on device wasm",
    ]);
  });

  it("says what 'auto' ran: the CPU engine as edgetier-wasm, a fallback to ORT by its build and the refusal", () => {
    expect(runtimeOutcome({ engine: 'edgetier-wasm', build: 'jspi' })).toEqual({
      ort_build: 'edgetier-wasm',
      dtype: null,
      note: null,
    });
    expect(
      runtimeOutcome({
        engine: 'onnxruntime-web',
        build: 'jspi',
        fallback: { asked: 'edgetier', code: 'unsupported_architecture', reason: 'gemma is not run.' },
      }),
    ).toEqual({
      ort_build: 'jspi',
      dtype: null,
      note: "'auto' chose edgetier's CPU engine, which refused this model or browser (unsupported_architecture: gemma is not run.); ONNX Runtime (jspi) ran it",
    });
    // The app's setting may ask for the CPU engine by name (and fall back so too): the note says that.
    expect(
      runtimeOutcome({
        engine: 'onnxruntime-web',
        build: 'wasm',
        runtimeChoice: { asked: 'edgetier', reason: '' },
        fallback: { asked: 'edgetier', code: 'no_wasm_simd', reason: 'no SIMD.' },
      }).note,
    ).toBe(
      "edgetier was asked for edgetier's CPU engine, which refused this model or browser (no_wasm_simd: no SIMD.); ONNX Runtime (wasm) ran it",
    );
  });
});

describe('reports written before runtime auto', () => {
  const dir = new URL('../../bench/results/presets/', import.meta.url).pathname;
  const presets = [
    'smollm2-135m',
    'smollm2-360m',
    'qwen2.5-0.5b',
    'qwen3-0.6b',
    'llama-3.2-1b',
    'qwen2.5-1.5b',
    'smollm2-1.7b',
  ];
  const reports = presets.map(
    (p) => JSON.parse(readFileSync(join(dir, `${p}-like`, 'bench.json'), 'utf8')) as BenchReport,
  );

  it('the committed presets summarise exactly as summary-like.md says, with no ORT-web column', () => {
    expect(toSummaryMarkdown(reports)).toBe(readFileSync(join(dir, 'summary-like.md'), 'utf8'));
  });

  it('their ratios recompute to the ones they hold: their ORT-web default row is no previous default of itself', () => {
    for (const report of reports) {
      expect(validateBenchReport(report)).toEqual([]);
      expect(computeRatios(report.rows)).toEqual(report.ratios);
      expect(toMarkdown(report)).not.toContain('previous default');
    }
  });
});

describe("the default row when 'auto' ran ONNX Runtime itself", () => {
  /** The default row ran ORT-web (an fp32 file, or the CPU engine refused the model), beside a pinned ORT-web row. */
  function ortDefaultReport(dtype: 'fp32' | 'q8', note: string | undefined): BenchReport {
    const report = autoReport();
    const rows = report.rows.map((r) => ({ ...r, dtype: r.engine === 'transformers.js' ? r.dtype : dtype }));
    const edge = rows[4]!;
    edge.ort_build = 'jspi';
    if (note) edge.note = note;
    report.rows = rows;
    report.ratios = computeRatios(rows);
    return report;
  }

  for (const [what, dtype, note] of [
    ['an fp32 file (auto plans ORT)', 'fp32', undefined],
    [
      'a model the CPU engine refused (a fallback)',
      'q8',
      "'auto' chose edgetier's CPU engine, which refused this model or browser (unsupported_architecture: no.); ONNX Runtime (jspi) ran it",
    ],
  ] as const)
    it(`${what}: no ratio of ORT-web to itself, no row named the previous default, no --summary column`, () => {
      const report = ortDefaultReport(dtype, note);
      expect(report.ratios.map((r) => r.label)).not.toContain(
        'edgetier default wasm / ORT-web (previous default), same dtype and threads',
      );
      expect(toMarkdown(report)).not.toContain('ORT-web (previous default)');
      expect(toSummaryMarkdown([report])).not.toContain('ORT-web previous default');
    });
});

describe('depth slowdowns beside a pinned row of the same build', () => {
  it("compare the default row at a depth with the default row at depth 0, not a pinned row's", () => {
    // `--engine edgetier --baseline --depth 0,2000`: the pinned CPU-engine rows come first.
    const at = (depth: number, partial: Partial<BenchRow>, tg: number) =>
      row({
        ort_build: 'edgetier-wasm',
        depth,
        pp_tok_s: twoRounds(100, 100),
        tg_tok_s: twoRounds(tg, tg),
        ...partial,
      });
    const rows = [
      at(0, { runtime: 'edgetier' }, 40),
      at(2000, { runtime: 'edgetier' }, 20),
      at(0, { runtime: 'auto', is_default: true }, 50),
      at(2000, { runtime: 'auto', is_default: true }, 25),
    ];
    const report = { ...autoReport(), params: { ...autoReport().params, depth: [0, 2000] }, rows };
    report.ratios = computeRatios(rows);
    const md = toMarkdown(report);
    expect(md).toContain('- edgetier wasm q8 2t (edgetier-wasm): tg64 @ d2000 / tg64 0.50×');
    // The default row's own depth-0 run (50 tok/s) is its base, named as the default row.
    expect(md).toContain('- edgetier wasm q8 2t (edgetier-wasm, auto): tg64 @ d2000 / tg64 0.50×');
  });
});

describe('--summary of reports from before and after runtime auto together', () => {
  it("names what ran each default row, so an old report's ORT-web default is not read as the CPU engine's", () => {
    const dir = new URL('../../bench/results/presets/', import.meta.url).pathname;
    const old = JSON.parse(readFileSync(join(dir, 'smollm2-135m-like', 'bench.json'), 'utf8')) as BenchReport;
    const oldEdge = old.rows.find((r) => r.is_default && r.engine === 'edgetier')!;
    const lines = toSummaryMarkdown([old, autoReport()]).split('\n');
    const column = lines[0]!.split(' | ').indexOf('edgetier default: tg tok/s');
    expect(lines[2]!.split(' | ')[column]).toContain(
      `(${oldEdge.dtype}, ${oldEdge.threads}t, ${oldEdge.ort_build})`,
    );
    expect(lines[3]!.split(' | ')[column]).toBe('55.0 ± 0.0 (q8, 2t, edgetier-wasm)');
  });
});
