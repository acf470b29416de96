/**
 * `bench --baseline`'s "previous default" where the plan gives edgetier's CPU engine the q4 file
 * (AUTO_ENGINE_PREFERS_Q4): it is ORT-web on the dtype ONNX Runtime's own plan picks (q8,
 * BackendChoice.ortDtype) at the same threads, never ORT-web's q4 beside it. The rows planned from the
 * planner's choice (the choice is made by planBackends with the switch passed in, not by flipping the
 * constant), and a report holding ORT-web q4 and q8 rows beside a q4 default: ratio, Markdown, CSV
 * and --summary all take q8; validation refuses a mark on the wrong rows.
 */
import { describe, expect, it } from 'vitest';
import { baselineNativeRows, planDefaultRows } from '../../src/bench/run-bench.ts';
import { type BackendChoice, planBackends } from '../../src/core/backend-plan.ts';
import { toCsv, toMarkdown } from '../../src/core/bench/render.ts';
import {
  BENCH_SCHEMA,
  type BenchReport,
  type BenchRow,
  benchRow,
  computeRatios,
  runtimeOutcome,
  validateBenchReport,
} from '../../src/core/bench/schema.ts';
import { toSummaryMarkdown } from '../../src/core/bench/summary.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';
import { NO_GPU_BENCH_ENVIRONMENT, TWO_CORE_CAPABILITIES } from '../helpers/bench-fixtures.ts';

const caps: Capabilities = TWO_CORE_CAPABILITIES;

/** The planner's first WASM choice for a folder edgetier wrote, with AUTO_ENGINE_PREFERS_Q4 as given. */
function wasmChoice(dtypes: ('q8' | 'q4' | 'fp32')[], prefersQ4: boolean): BackendChoice {
  const plan = planBackends(caps, { dtypes, engineGraph: true }, undefined, prefersQ4);
  return plan.choices.find((c) => c.device === 'wasm')!;
}

describe("the rows --baseline plans from the planner's choice", () => {
  it('a q4 planned for the CPU engine: its load carries ortDtype q8, and the previous default is ORT-web q8 at its threads', () => {
    const choice = wasmChoice(['q8', 'q4'], true);
    expect(choice).toMatchObject({ dtype: 'q4', ortDtype: 'q8', threads: 2, build: 'jspi' });
    const plan = planDefaultRows(choice);
    expect(plan).toEqual({
      load: { device: 'wasm', dtype: 'q4', threads: 2, build: 'jspi', runtime: 'auto', ortDtype: 'q8' },
      ortBuild: 'edgetier-wasm',
      previousDefault: { dtype: 'q8', threads: 2 },
    });
    // Native on the same file stays the default row's own file: q4.
    expect(baselineNativeRows(['wasm'], ['q8', 'q4'], [0], choice, [])[0]).toEqual({
      dtype: 'q4',
      threads: 2,
    });
  });

  it('q8 (the switch off): ORT-web q8, and no ortDtype on the load', () => {
    const plan = planDefaultRows(wasmChoice(['q8', 'q4'], false));
    expect(plan.load).toEqual({ device: 'wasm', dtype: 'q8', threads: 2, build: 'jspi', runtime: 'auto' });
    expect(plan.previousDefault).toEqual({ dtype: 'q8', threads: 2 });
  });

  it("a folder with only q4: ORT's own plan is q4 too, so the previous default is ORT-web q4", () => {
    const choice = wasmChoice(['q4'], true);
    expect(choice.ortDtype).toBeUndefined();
    expect(planDefaultRows(choice).previousDefault).toEqual({ dtype: 'q4', threads: 2 });
  });

  it("fp32 ('auto' runs ORT itself): no previous default, the build column ORT's", () => {
    const plan = planDefaultRows(wasmChoice(['fp32'], true));
    expect(plan.ortBuild).toBe('jspi');
    expect(plan.previousDefault).toBeNull();
  });
});

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

/**
 * `--device wasm --dtype q4,q8 --threads 2 --baseline` with a q4 default: ORT-web's q4 and q8 matrix
 * rows (q8 marked as the previous default), the default row on the CPU engine.
 */
function q4DefaultReport(): BenchReport {
  const rows = [
    row({ dtype: 'q4', runtime: 'onnxruntime', pp_tok_s: twoRounds(40, 40), tg_tok_s: twoRounds(2.4, 2.4) }),
    row({
      runtime: 'onnxruntime',
      previous_default: true,
      pp_tok_s: twoRounds(160, 160),
      tg_tok_s: twoRounds(20, 25),
    }),
    row({
      dtype: 'q4',
      is_default: true,
      runtime: 'auto',
      ort_build: 'edgetier-wasm',
      pp_tok_s: twoRounds(128, 128),
      tg_tok_s: twoRounds(60, 50),
    }),
  ];
  return {
    schema: BENCH_SCHEMA,
    created_at: '2026-11-26T00:00:00.000Z',
    command: 'edgetier bench twin --device wasm --dtype q4,q8 --threads 2 --baseline',
    params: { pp: 22, tg: 64, reps: 2, warmup: 1, rounds: 2 },
    environment: NO_GPU_BENCH_ENVIRONMENT,
    models: [{ id: 'twin', synthetic: false, mirrors: null, vocab_size: 49152 }],
    rows,
    ratios: computeRatios(rows),
    notes: [],
  };
}

const Q8_LABEL = "edgetier default wasm / ORT-web (previous default: ORT's plan, q8, same threads)";

describe('a q4 default beside ORT-web q4 and q8 rows', () => {
  it('the ratio is against the marked ORT-web q8 row, and its label says so', () => {
    const report = q4DefaultReport();
    expect(validateBenchReport(JSON.parse(JSON.stringify(report)))).toEqual([]);
    const previous = report.ratios.filter((r) => r.label.includes('ORT-web'));
    expect(previous).toEqual([
      {
        label: Q8_LABEL,
        model: 'twin',
        numerator: 'edgetier wasm q4 2t (edgetier-wasm, auto)',
        denominator: 'edgetier wasm q8 2t (jspi)',
        pp: 0.8,
        tg: 55 / 22.5,
        pp_by_round: [0.8, 0.8],
        tg_by_round: [3, 2],
      },
    ]);
  });

  it('Markdown names the q8 row the previous default, not the q4 row', () => {
    const md = toMarkdown(q4DefaultReport());
    expect(md).toContain(
      '| twin | edgetier | wasm | q8 | 2 | jspi | 160.00 ± 0.00 | 22.50 ± 0.00 | — | — | — | ORT-web (previous default) |',
    );
    expect(md).toContain(
      '| twin | edgetier | wasm | q4 | 2 | jspi | 40.00 ± 0.00 | 2.40 ± 0.00 | — | — | — |  |',
    );
    expect(md).toContain(
      `- ${Q8_LABEL}: pp 0.80×, tg 2.44× (edgetier wasm q4 2t (edgetier-wasm, auto) against edgetier wasm q8 2t (jspi))`,
    );
  });

  it('the CSV marks the previous default in a last column', () => {
    const csv = toCsv(q4DefaultReport()).trimEnd().split('\n');
    expect(csv[0]!.endsWith(',runtime,previous_default')).toBe(true);
    expect(csv.slice(1).map((line) => line.split(',').slice(-2).join(','))).toEqual([
      'onnxruntime,false',
      'onnxruntime,true',
      'auto,false',
    ]);
  });

  it("--summary's column is against q8, and its cell names the row's dtype", () => {
    const lines = toSummaryMarkdown([q4DefaultReport()]).split('\n');
    const header = lines[0]!.split(' | ');
    const column = header.indexOf("default / ORT-web previous default (ORT's plan, same threads): pp, tg");
    expect(column).toBe(11);
    expect(lines[2]!.split(' | ')[column]).toBe('0.80×, 2.44× (q8 2t; rounds 2.00-3.00×)');
  });

  it('a failed q8 row leaves no previous default: the q4 row of the same dtype is not taken instead', () => {
    const report = q4DefaultReport();
    report.rows[1]!.error = { code: 'load_failed', message: 'out of memory' };
    expect(computeRatios(report.rows).some((r) => r.label.includes('ORT-web'))).toBe(false);
    expect(toMarkdown({ ...report, ratios: computeRatios(report.rows) })).not.toContain(
      'ORT-web (previous default)',
    );
  });

  it('each depth finds its own marked row', () => {
    const report = q4DefaultReport();
    const deep = report.rows.map((r) => ({ ...r, depth: 2000 }));
    const ratios = computeRatios([...report.rows, ...deep]).filter((r) => r.label === Q8_LABEL);
    expect(ratios.map((r) => [r.depth, r.denominator])).toEqual([
      [undefined, 'edgetier wasm q8 2t (jspi)'],
      [2000, 'edgetier wasm q8 2t (jspi) @ d2000'],
    ]);
  });
});

describe('the previous_default field is validated by name', () => {
  it('a boolean when present', () => {
    const bad = JSON.parse(JSON.stringify(q4DefaultReport()));
    bad.rows[1].previous_default = 'yes';
    expect(validateBenchReport(bad)).toEqual(['rows[1].previous_default must be a boolean when present']);
  });

  it("only on a pinned ORT-web row: not the default row, not the CPU engine's", () => {
    const bad = JSON.parse(JSON.stringify(q4DefaultReport()));
    bad.rows[1].previous_default = false;
    bad.rows[2].previous_default = true;
    const why =
      'previous_default marks only a pinned ORT-web row of edgetier\'s on device wasm (ort_build "jspi" or "wasm", not the default row)';
    expect(validateBenchReport(bad)).toEqual([`rows[2].${why}`]);
    const engine = JSON.parse(JSON.stringify(q4DefaultReport()));
    engine.rows[1].runtime = 'edgetier';
    engine.rows[1].ort_build = 'edgetier-wasm';
    expect(validateBenchReport(engine)).toEqual([`rows[1].${why}`]);
  });

  it('one per model and depth', () => {
    const bad = JSON.parse(JSON.stringify(q4DefaultReport()));
    bad.rows[0].previous_default = true;
    expect(validateBenchReport(bad)).toEqual([
      'rows[0] and rows[1] both mark the previous default of model twin at depth 0',
    ]);
  });
});

describe("a q4 default row that ONNX Runtime ran on q8 (the CPU engine's refusal)", () => {
  it('takes the dtype ORT loaded, and its note says which was planned', () => {
    expect(
      runtimeOutcome({
        engine: 'onnxruntime-web',
        build: 'jspi',
        dtype: 'q8',
        fallback: { asked: 'edgetier', code: 'unsupported_architecture', reason: 'no.', plannedDtype: 'q4' },
      }),
    ).toEqual({
      ort_build: 'jspi',
      dtype: 'q8',
      note: "'auto' chose edgetier's CPU engine, which refused this model or browser (unsupported_architecture: no.); ONNX Runtime (jspi) ran it on its q8 file (q4 was planned for the CPU engine)",
    });
  });
});
