/**
 * `edgetier bench` end to end on the tiny twin: native onnxruntime-node and the real engine worker in
 * headless Chromium, two counted runs each, plus a configuration that cannot run. Checks the JSON
 * against the schema, that the counts are exactly what was asked, and that every file was written.
 * Never asserts a speed.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchEvent, baselineNativeRows, runBench } from '../../src/bench/run-bench.ts';
import { synthPreset } from '../../src/builder/synth.ts';
import { type BenchReport, rowLabel, validateBenchReport } from '../../src/core/bench/schema.ts';

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

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-bench-'));
  tiny = join(root, 'tiny');
  await synthPreset('tiny', tiny, { dtypes: ['fp32'], seed: 3 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('edgetier bench', () => {
  it('measures cpu and wasm rows, records a row for a dtype the folder lacks, and writes every format', async () => {
    const out = join(root, 'out');
    const result = await edgetier(
      'bench',
      tiny,
      '--device',
      'cpu,wasm',
      '--dtype',
      'fp32,q4',
      '--threads',
      '1',
      '--pp',
      '16',
      '--tg',
      '8',
      '--reps',
      '2',
      '--warmup',
      '1',
      '--json',
      '--out',
      out,
    ); // prettier-ignore
    expect(result.stderr).not.toContain('    at ');
    // A run that stopped (a missing Chromium, say) shows its one-line reason here.
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as BenchReport;
    expect(validateBenchReport(report)).toEqual([]);
    expect(report.params).toEqual({ pp: 16, tg: 8, reps: 2, warmup: 1, warmup_s: 2 });
    expect(report.models).toEqual([
      { id: 'tiny', synthetic: true, mirrors: expect.any(String), vocab_size: expect.any(Number) },
    ]);
    // A row that failed for another reason than the dtype the folder lacks shows its message here
    // (a missing Chromium, say) rather than as a type error on the browser version it left null.
    expect(
      report.rows.filter((r) => r.error && r.error.code !== 'unsupported_dtype').map((r) => r.error!.message),
    ).toEqual([]);
    expect(report.environment.cpu_cores).toBeGreaterThan(0);
    expect(report.environment.browser_version).toMatch(/^Chromium \d+\./);
    expect(report.environment.onnxruntime_node_version).toBe('1.30.0');
    expect(
      report.rows.map((r) => `${r.engine} ${r.device} ${r.dtype} ${r.threads} ${r.error?.code ?? 'ok'}`),
    ).toEqual([
      'native cpu fp32 1 ok',
      'native cpu q4 1 unsupported_dtype',
      'edgetier wasm fp32 1 ok',
      'edgetier wasm q4 1 unsupported_dtype',
    ]);
    for (const row of report.rows.filter((r) => !r.error)) {
      expect(row.pp_tok_s?.n).toBe(2);
      expect(row.tg_tok_s?.values).toHaveLength(2);
      expect(row.pp_tok_s!.mean).toBeGreaterThan(0);
      expect(row.tg_tok_s!.mean).toBeGreaterThan(0);
      expect(row.load!.warm_ms).toBeGreaterThan(0);
      expect(row.peak_memory_bytes).toBeGreaterThan(0);
    }
    expect(report.rows[1]!.error!.message).toContain('no onnx/model_q4.onnx');
    // Every format, and no temporary folder left behind.
    expect(readdirSync(out).sort()).toEqual(['bench.csv', 'bench.json', 'bench.md', 'bench.svg']);
    expect(JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8'))).toEqual(report);
    expect(readFileSync(join(out, 'bench.md'), 'utf8')).toContain('| tiny | edgetier | wasm | fp32 | 1 |');
    expect(readFileSync(join(out, 'bench.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(5);
    expect(readFileSync(join(out, 'bench.svg'), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\n$/);
    expect(existsSync(join(out, '.bench-tmp'))).toBe(false);
  });

  it('--rounds: the rows take turns, each round with the same repetitions, merged in order', async () => {
    const events: BenchEvent[] = [];
    const report = await runBench(
      {
        models: [tiny],
        devices: ['cpu'],
        dtypes: ['fp32'],
        threads: [1, 2],
        params: { pp: 8, tg: 4, reps: 4, warmup: 1, rounds: 2 },
        rowBudgetS: 0,
        baseline: false,
        command: 'test',
      },
      (event) => events.push(event),
    );
    expect(events.filter((e) => e.kind === 'config').map((e) => `${e.index}/${e.total} ${e.label}`)).toEqual([
      '1/4 native cpu fp32 1t, round 1 of 2',
      '2/4 native cpu fp32 2t, round 1 of 2',
      '3/4 native cpu fp32 1t, round 2 of 2',
      '4/4 native cpu fp32 2t, round 2 of 2',
    ]);
    // Only the first round loads cold; every round warms up once before its counted runs.
    const steps = events.flatMap((e) =>
      e.kind === 'step' && e.index === 3
        ? [
            e.step.kind === 'load'
              ? `load ${e.step.cold ? 'cold' : 'warm'}`
              : e.step.kind === 'fill'
                ? `fill ${e.step.depth}`
                : `${e.step.test} ${e.step.rep}/${e.step.of}${e.step.warmup ? ' warm-up' : ''}`,
          ]
        : [],
    );
    expect(steps).toEqual([
      'load warm',
      'pp 1/1 warm-up',
      'tg 1/1 warm-up',
      'pp 1/2',
      'tg 1/2',
      'pp 2/2',
      'tg 2/2',
    ]);
    expect(report.params.rounds).toBe(2);
    expect(report.notes).toContain(
      'Rounds: the rows took turns 2 times, each row running the same repetitions in every round (2, or fewer under the row budget, fixed by its first round before any counted run), so every round weighs alike in its mean; only the first turn loads cold; ratios are also given per round.',
    );
    for (const row of report.rows) {
      expect(row.error).toBeNull();
      expect(row.reps_by_round).toEqual([2, 2]);
      expect(row.warmup_runs).toEqual([1, 1]);
      expect(row.tg_tok_s?.values).toHaveLength(4);
      expect(row.pp_tok_s?.n).toBe(4);
    }
    expect(validateBenchReport(report)).toEqual([]);
  });

  it("a pinned CPU-engine row in Chromium says which kernels ran: a q4 file's relaxed-SIMD int8 GEMM, a q8 file's SIMD128", async () => {
    const dir = join(root, 'tiny-q4-q8');
    await synthPreset('tiny', dir, { dtypes: ['q4', 'q8'], seed: 5 });
    const report = await runBench({
      models: [dir],
      devices: ['wasm'],
      dtypes: ['q4', 'q8'],
      threads: [1],
      cpuEngines: ['edgetier'],
      params: { pp: 4, tg: 2, reps: 1, warmup: 0 },
      rowBudgetS: 0,
      baseline: false,
      command: 'test',
    });
    expect(report.rows.map((r) => [r.dtype, r.ort_build, r.error, r.note])).toEqual([
      ['q4', 'edgetier-wasm', null, 'CPU engine kernels: relaxed SIMD, int8 activations, int8 KV cache'],
      ['q8', 'edgetier-wasm', null, 'CPU engine kernels: SIMD128'],
    ]);
    expect(validateBenchReport(report)).toEqual([]);
  });

  it('--engine onnxruntime,edgetier: a native row and an edgetier CPU-engine row in one run', async () => {
    const events: BenchEvent[] = [];
    const report = await runBench(
      {
        models: [tiny],
        devices: ['cpu'],
        dtypes: ['fp32'],
        threads: [1],
        cpuEngines: ['onnxruntime', 'edgetier'],
        params: { pp: 8, tg: 4, reps: 1, warmup: 0 },
        rowBudgetS: 0,
        baseline: false,
        command: 'test',
      },
      (event) => events.push(event),
    );
    expect(events.filter((e) => e.kind === 'config').map((e) => e.label)).toEqual([
      'native cpu fp32 1t',
      'edgetier cpu fp32 1t',
    ]);
    const [native, cpuEngine] = report.rows;
    expect(native).toMatchObject({
      engine: 'native',
      device: 'cpu',
      ort_build: 'onnxruntime-node',
      error: null,
    });
    expect(cpuEngine).toMatchObject({
      engine: 'edgetier',
      device: 'cpu',
      threads: 1,
      ort_build: 'edgetier-wasm',
      error: null,
    });
    expect(cpuEngine?.tg_tok_s?.n).toBe(1);
    expect(cpuEngine?.pp_tok_s?.n).toBe(1);
    expect(validateBenchReport(report)).toEqual([]);
  });

  it("--baseline: stock at its defaults and at the default row's threads, and every ratio names its denominator", async () => {
    const q8 = join(root, 'tiny-q8');
    await synthPreset('tiny', q8, { dtypes: ['q8'], seed: 3 });
    const report = await runBench({
      models: [q8],
      devices: ['wasm'],
      dtypes: ['q8'],
      threads: [0],
      params: { pp: 8, tg: 4, reps: 2, warmup: 0, rounds: 2 },
      rowBudgetS: 0,
      baseline: true,
      command: 'test',
    });
    expect(validateBenchReport(report)).toEqual([]);
    const edge = report.rows.find((r) => r.is_default)!;
    // The default row is what the app runs on wasm: the plan's q8 on runtime 'auto', which runs
    // edgetier's CPU engine, and its build column and memory figure say so.
    expect(edge).toMatchObject({
      engine: 'edgetier',
      device: 'wasm',
      dtype: 'q8',
      runtime: 'auto',
      ort_build: 'edgetier-wasm',
      error: null,
      // LoadInfo.cpuKernels: a q8 file runs on int16 activation codes, SIMD128 in any browser, float32 KV cache.
      note: 'CPU engine kernels: SIMD128',
    });
    expect(edge.peak_memory_note).toContain("edgetier's CPU engine's WebAssembly memory");
    // ORT-web pinned on ORT's plan's dtype (q8 here) and the same threads: the previous default, marked.
    const ortWeb = report.rows.filter((r) => r.engine === 'edgetier' && !r.is_default);
    expect(ortWeb).toHaveLength(1);
    expect(ortWeb[0]).toMatchObject({
      device: 'wasm',
      dtype: 'q8',
      threads: edge.threads,
      runtime: 'onnxruntime',
      ort_build: report.environment.jspi ? 'jspi' : 'wasm',
      previous_default: true,
      error: null,
    });
    expect(ortWeb[0]!.peak_memory_note).toContain("ORT's WebAssembly heap");
    const stock = report.rows.filter((r) => r.engine === 'transformers.js');
    expect(stock.map((r) => [r.setup, r.error])).toEqual([
      ['defaults', null],
      ['same threads', null],
    ]);
    // Threads as ORT reported them: its own default (half the cores, at most 4), and the default row's.
    expect(stock[0]!.threads).toBe(Math.min(4, Math.ceil(report.environment.cpu_cores / 2)));
    expect(stock[1]!.threads).toBe(edge.threads);
    const native = report.rows.find((r) => r.engine === 'native')!;
    expect(native).toMatchObject({ dtype: 'q8', error: null });
    for (const row of report.rows) expect(row.reps_by_round).toEqual([1, 1]);
    expect(report.ratios.map((r) => [r.label, r.denominator, r.pp === null, r.tg === null])).toEqual([
      [
        'edgetier default wasm / stock transformers.js, same threads',
        `stock transformers.js (same threads) wasm default ${edge.threads}t (webgpu)`,
        false,
        false,
      ],
      [
        'edgetier default wasm / stock transformers.js, defaults',
        `stock transformers.js (defaults) wasm default ${stock[0]!.threads}t (webgpu)`,
        false,
        false,
      ],
      [
        'edgetier default wasm / native onnxruntime-node, same dtype (same file)',
        rowLabel(native),
        false,
        false,
      ],
      [
        'edgetier default wasm / native onnxruntime-node, fastest pp row (pp only)',
        rowLabel(native),
        false,
        true,
      ],
      [
        'edgetier default wasm / native onnxruntime-node, fastest tg row (tg only)',
        rowLabel(native),
        true,
        false,
      ],
      [
        "edgetier default wasm / ORT-web (previous default: ORT's plan, q8, same threads)",
        rowLabel(ortWeb[0]!),
        false,
        false,
      ],
    ]);
    expect(report.ratios[0]!.numerator).toBe(`edgetier wasm q8 ${edge.threads}t (edgetier-wasm, auto)`);
    for (const ratio of report.ratios) {
      if (ratio.pp !== null) expect(ratio.pp_by_round).toHaveLength(2);
      if (ratio.tg !== null) expect(ratio.tg_by_round).toHaveLength(2);
    }
  });

  it('refuses bad options with one line and exit code 2', async () => {
    expect(await edgetier('bench', tiny, '--device', 'tpu')).toMatchObject({
      code: 2,
      stderr: 'edgetier bench: Unknown --device "tpu"; use cpu, wasm, webgpu.\n',
    });
    expect(await edgetier('bench', tiny, '--reps', '0')).toMatchObject({
      code: 2,
      stderr: 'edgetier bench: --reps must be at least 1.\n',
    });
    expect(await edgetier('bench', tiny, '--reps', '2', '--rounds', '3')).toMatchObject({
      code: 2,
      stderr:
        'edgetier bench: --rounds must be between 1 and --reps (2): each round runs at least one repetition.\n',
    });
    expect(await edgetier('bench', tiny, '--reps', '4', '--rounds', '3')).toMatchObject({
      code: 2,
      stderr:
        'edgetier bench: --reps (4) must be a multiple of --rounds (3): every round runs the same repetitions; use --reps 3 or 6.\n',
    });
    expect(await edgetier('bench', tiny, '--device', 'webgpu', '--engine', 'edgetier')).toMatchObject({
      code: 2,
      stderr: 'edgetier bench: --engine edgetier makes cpu and wasm rows: add cpu or wasm to --device.\n',
    });
    expect(await edgetier('bench', tiny, '--engine', 'tvm')).toMatchObject({
      code: 2,
      stderr: 'edgetier bench: Unknown --engine "tvm"; use onnxruntime, edgetier.\n',
    });
    expect(await edgetier('bench', join(root, 'nowhere'))).toMatchObject({ code: 1 });
  });

  it('refuses what it would not measure as asked: --warmup-s without warm-up, two models of one name', async () => {
    expect(
      await edgetier('bench', tiny, '--device', 'cpu', '--warmup', '0', '--warmup-s', '3'),
    ).toMatchObject({
      code: 2,
      stderr: 'edgetier bench: --warmup-s needs --warmup 1 or more: with --warmup 0 nothing warms up.\n',
    });
    // Rows are keyed by the folder's name: two folders called tiny would share one set of ratios.
    const copy = join(root, 'copy', 'tiny');
    mkdirSync(copy, { recursive: true });
    copyFileSync(join(tiny, 'config.json'), join(copy, 'config.json'));
    expect(await edgetier('bench', tiny, copy, '--device', 'cpu')).toMatchObject({
      code: 2,
      stderr: `edgetier bench: Two models are named "tiny" (${tiny} and ${copy}): the report tells models apart by name; give each folder its own name.\n`,
    });
    expect(await edgetier('bench', tiny, tiny, '--device', 'cpu')).toMatchObject({
      code: 2,
      stderr: `edgetier bench: ${tiny} is given twice.\n`,
    });
  });

  it('without warm-up records warmup_s 0, and one repetition renders without a spread', async () => {
    const result = await edgetier(
      'bench',
      tiny,
      '--device',
      'cpu',
      '--dtype',
      'fp32',
      '--threads',
      '1',
      '--pp',
      '4',
      '--tg',
      '2',
      '--reps',
      '1',
      '--warmup',
      '0',
      '--row-budget',
      '0',
      '--json',
    );
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as BenchReport;
    expect(report.params).toEqual({ pp: 4, tg: 2, reps: 1, warmup: 0, warmup_s: 0 });
    expect(report.rows[0]!.tg_tok_s!.n).toBe(1);
    // One value has no spread: the progress line does not print "± 0.0".
    expect(result.stderr).toMatch(
      /^\[1\/1\] native cpu fp32 1t: pp [\d.]+ \(n = 1\) tok\/s, tg [\d.]+ \(n = 1\) tok\/s\n$/,
    );
  });

  it('--summary refuses a report whose numbers are not numbers, in one line', async () => {
    const file = join(root, 'odd.json');
    const stats = { mean: 20, sd: 1, n: 2, values: [19, 21] };
    const report = {
      schema: 'edgetier-bench/1',
      created_at: '2026-01-01T00:00:00.000Z',
      command: 'edgetier bench tiny',
      params: { pp: 4, tg: 2, reps: 2, warmup: 1 },
      environment: { cpu_cores: 2, os: 'Debian', load_average: ['x'] },
      models: [],
      ratios: [],
      notes: [],
      rows: [
        {
          ...{
            model: 'tiny',
            engine: 'edgetier',
            device: 'wasm',
            dtype: 'q8',
            threads: 2,
            ort_build: 'jspi',
          },
          ...{ is_default: true, pp_tok_s: stats, tg_tok_s: stats, ttft_ms: null, load: null },
          ...{ peak_memory_bytes: null, peak_memory_note: '', error: null, reps_by_round: 'ab' },
        },
      ],
    };
    writeFileSync(file, JSON.stringify(report));
    expect(await edgetier('bench', '--summary', file)).toMatchObject({
      code: 2,
      stderr: `edgetier bench: ${file} is not an edgetier-bench/1 report: environment.load_average must be null or an array of numbers; rows[0].reps_by_round must be an array of integers of at least 0 when present.\n`,
    });
  });

  it("--baseline plans native on the default row's file at the default row's threads, whatever --dtype and --threads say", () => {
    const q8at2 = { dtype: 'q8', threads: 2 } as const;
    // Without cpu rows: every dtype natively, at the default row's threads (not ORT's own count).
    expect(baselineNativeRows(['wasm'], ['q8', 'q4'], [0], q8at2, [])).toEqual([
      { dtype: 'q8', threads: 2 },
      { dtype: 'q4', threads: 2 },
    ]);
    // --dtype q4: the default row still runs q8, so native q8 is its same-file denominator.
    expect(baselineNativeRows(['cpu', 'wasm'], ['q4'], [0], q8at2, [{ dtype: 'q4', threads: 0 }])).toEqual([
      { dtype: 'q8', threads: 2 },
    ]);
    expect(baselineNativeRows(['cpu', 'wasm'], ['q8'], [2], q8at2, [{ dtype: 'q8', threads: 2 }])).toEqual(
      [],
    );
    // No default row (Chromium did not start): the largest thread count asked, as before.
    expect(baselineNativeRows(['wasm'], ['q8'], [0, 1], null, [])).toEqual([{ dtype: 'q8', threads: 1 }]);
  });

  it('--summary reads reports (files or folders) and refuses what is not one', async () => {
    const out = join(root, 'out');
    expect(await edgetier('bench', '--summary', out)).toMatchObject({
      code: 0,
      stdout: 'No report holds an edgetier default WASM row that ran.\n',
    });
    expect(await edgetier('bench', '--summary', join(root, 'none.json'))).toMatchObject({
      code: 2,
      stderr: `edgetier bench: Cannot read ${join(root, 'none.json')}: ENOENT.\n`,
    });
    const notJson = join(root, 'tiny', 'config.json');
    expect(await edgetier('bench', '--summary', notJson)).toMatchObject({
      code: 2,
      stderr: `edgetier bench: ${notJson} is not an edgetier-bench/1 report: schema is undefined, not "edgetier-bench/1"; created_at must be a string; command must be a string.\n`,
    });
    expect(await edgetier('bench', '--summary')).toMatchObject({
      code: 2,
      stderr: 'edgetier bench: Give at least one bench.json file or folder for --summary.\n',
    });
  });
});
