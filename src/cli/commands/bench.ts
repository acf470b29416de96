/**
 * `edgetier bench <model>…`: tokens/s of prompt processing (pp N) and text generation (tg N), mean ±
 * sd over repetitions, per device × dtype × threads, with load times, time to first token, peak
 * memory and the environment; optional baselines (stock transformers.js, native onnxruntime-node).
 * Writes JSON, Markdown, CSV and an SVG chart with --out; prints one format on stdout.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { type BenchEvent, runBench } from '../../bench/run-bench.ts';
import { parseDepths } from '../../core/bench/depth.ts';
import {
  type BenchParams,
  DEFAULT_BENCH_PARAMS,
  DEFAULT_ROW_BUDGET_S,
  DEFAULT_WARMUP_S,
  MAX_WARMUP_RUNS,
} from '../../core/bench/method.ts';
import { formatStats, toCsv, toMarkdown, toSvg } from '../../core/bench/render.ts';
import { BENCH_SCHEMA, type BenchReport, validateBenchReport } from '../../core/bench/schema.ts';
import { toSummaryMarkdown } from '../../core/bench/summary.ts';
import { DTYPES, type Dtype, isDtype } from '../../core/dtypes.ts';
import type { Device } from '../../core/engine.ts';
import { EdgetierError } from '../../core/errors.ts';
import { NODE_RUNTIMES, type NodeRuntime } from '../../native/node-engine.ts';
import { parseCommandArgs, parseIntegerOption } from '../args.ts';
import { requireChromium } from '../browser.ts';
import type { Command } from '../command.ts';
import { DEVICES, isDevice, isNodeRuntime } from '../engine-for-device.ts';

const help = `
Usage: edgetier bench <model-dir|hub-id>… [options]

Measures how fast a model runs, llama-bench style: pp N (a prompt of exactly N synthetic tokens,
prefilled; tokens/s = N / time to first token) and tg N (N tokens generated after a 1-token prompt,
end-of-sequence ignored; tokens/s over the decode steps), mean ± sd over --reps runs after warm-up
runs that are not counted. Every row streams (detokenises each token as it comes), as an app does.
Also: time to first token, cold and warm load (download vs session init), peak memory, and the
environment (CPU, OS, browser, WebGPU adapter, library versions).

cpu runs onnxruntime-node in this process (the native ceiling); wasm and webgpu run edgetier's
engine worker in headless Chromium. A configuration that cannot run becomes a row with its error.

Options:
  --device LIST      Comma-separated: ${DEVICES.join(', ')} (default cpu,wasm).
  --dtype LIST       Comma-separated: ${DTYPES.join(', ')} (default: every dtype the folder holds).
  --threads LIST     Comma-separated thread counts; 0 = the engine's choice (default 0).
  --engine LIST      What runs the cpu and wasm rows, comma-separated: onnxruntime (onnxruntime-node,
                     onnxruntime-web), edgetier (edgetier's own WebAssembly CPU engine, fp32/q8/q4:
                     in Node for cpu, at each --threads count, 0 meaning one thread; in the engine
                     worker for wasm, at each count, 0 meaning the plan's) (default onnxruntime).
  --pp N             Prompt tokens of the pp test; 0 skips it (default ${DEFAULT_BENCH_PARAMS.pp}).
  --tg N             Generated tokens of the tg test; 0 skips it (default ${DEFAULT_BENCH_PARAMS.tg}).
  --depth LIST       Comma-separated context depths (llama-bench's -d): tokens already in the KV
                     cache before each pp and tg test, one row per depth (default 0). Before each
                     measured run an untimed request brings the cache to N seeded synthetic tokens
                     (all N after a load, then a cut-back to them), and the test runs on top
                     ("pp512 @ d2000", "tg128 @ d2000"); depth + pp + 1 and depth + tg + 2 must fit
                     the model's max_position_embeddings. The stock --baseline rows run at depth 0
                     only (at other depths they are error rows saying so).
  --reps N           Counted repetitions (default ${DEFAULT_BENCH_PARAMS.reps}).
  --warmup N         Uncounted runs first (default ${DEFAULT_BENCH_PARAMS.warmup}).
  --warmup-s S       With --warmup 1 or more, keep warming up until the warm-up has taken S
                     seconds, at most ${MAX_WARMUP_RUNS} runs (default ${DEFAULT_WARMUP_S}; 0 = exactly --warmup runs):
                     a native row runs well under a second and needs more than one.
  --rounds N         Rows take turns N times (A B C A B C …), each turn with --reps / N counted
                     runs (--reps must be a multiple of N) and its own warm-up, so that a machine
                     whose speed drifts slows every row alike; the ratios are also given per round
                     (default 1: each row runs all at once).
  --row-budget S     Seconds one row's counted repetitions may take (default ${DEFAULT_ROW_BUDGET_S};
                     0 = no budget). After the first round's warm-up, a row whose --reps repetitions
                     would take longer runs as many as fit, the same number in every round, never
                     fewer than 2 in all; its note and n say so.
  --baseline         Add edgetier's default WASM row (what the app runs: the planner's dtype and
                     threads on the CPU runtime 'auto', so edgetier's CPU engine for q8/q4; its
                     build column says what ran, its note a fallback to ORT), ORT-web at the same
                     threads on ORT's own plan's dtype (the previous default: q8 beside a q4
                     default), stock transformers.js twice
                     (pipeline('text-generation') in the same browser: with its defaults, and with
                     ORT's numThreads set to the threads of edgetier's default row) and native
                     onnxruntime-node rows; the report states the default row's ratio to ORT-web
                     (previous default), to each stock row, to native on the same file and to
                     native's fastest row for pp and tg separately. --engine rows stay pinned.
  --json | --md | --csv  What to print on stdout (default --md).
  --out DIR          Also write bench.json, bench.md, bench.csv and bench.svg into DIR.
  --summary          Run nothing: read the given bench.json files (or folders holding one) and
                     print one Markdown table, one line per model, of edgetier's default WASM row
                     against stock transformers.js (same threads, defaults), native on the same
                     file, native's fastest pp row and fastest tg row, and ORT-web (previous
                     default) where a report has that row.
  --verbose          Print stack traces on errors.

The JSON schema (edgetier-bench/1) is documented in bench/README.md.
`;

function parseList<T extends string>(
  name: string,
  value: string,
  valid: (v: string) => v is T,
  known: readonly string[],
) {
  const items = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (items.length === 0) throw new EdgetierError('usage', `--${name} is empty.`);
  for (const item of items)
    if (!valid(item))
      throw new EdgetierError(
        name === 'dtype' ? 'unsupported_dtype' : 'usage',
        `Unknown --${name} "${item}"; use ${known.join(', ')}.`,
      );
  return [...new Set(items)] as T[];
}

/** Writes every format into `dir` through a temporary folder: nothing half-written is left. */
export function writeReportFiles(report: BenchReport, dir: string): string[] {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const tmp = mkdtempSync(join(out, '.bench-tmp-'));
  const files: Record<string, string> = {
    'bench.json': `${JSON.stringify(report, null, 2)}\n`,
    'bench.md': toMarkdown(report),
    'bench.csv': toCsv(report),
    'bench.svg': toSvg(report),
  };
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, name), text);
    for (const name of Object.keys(files)) renameSync(join(tmp, name), join(out, name));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return Object.keys(files).map((name) => join(out, name));
}

/** A bench.json (or a folder holding one), checked against the schema. */
function readReport(path: string): BenchReport {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'bench.json') : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new EdgetierError(
      'usage',
      `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EdgetierError(
      'usage',
      `${file} is not JSON; give a bench.json written by \`edgetier bench --out\`.`,
    );
  }
  const problems = validateBenchReport(parsed);
  if (problems.length > 0)
    throw new EdgetierError(
      'usage',
      `${file} is not an ${BENCH_SCHEMA} report: ${problems.slice(0, 3).join('; ')}.`,
    );
  return parsed as BenchReport;
}

/** The multiples of `of` around `n` (at least `of`): what to give --reps instead. */
function nearestMultiples(n: number, of: number): number[] {
  const below = Math.floor(n / of) * of;
  return below >= of ? [below, below + of] : [of];
}

/** A live line on a terminal; one line per finished configuration otherwise. */
function progressReporter(stream: NodeJS.WriteStream) {
  const tty = stream.isTTY === true;
  return (event: BenchEvent) => {
    const head = `[${event.index}/${event.total}] ${event.label}`;
    if (event.kind === 'row') {
      const r = event.row;
      const line = r.error
        ? `${head}: error (${r.error.code}): ${r.error.message}`
        : `${head}: pp ${formatStats(r.pp_tok_s, 1)} tok/s, tg ${formatStats(r.tg_tok_s, 1)} tok/s`;
      stream.write(tty ? `\r\x1b[K${line}\n` : `${line}\n`);
      return;
    }
    if (!tty) return;
    const step =
      event.kind === 'config'
        ? 'starting'
        : event.step.kind === 'load'
          ? `${event.step.cold ? 'cold' : 'warm'} load`
          : event.step.kind === 'fill'
            ? `filling ${event.step.depth} tokens of context`
            : `${event.step.test} ${event.step.warmup ? 'warm-up' : 'rep'} ${event.step.rep}/${event.step.of}`;
    stream.write(`\r\x1b[K${head} · ${step}`);
  };
}

export const benchCommand: Command = {
  name: 'bench',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('bench', args, {
      device: { type: 'string', default: 'cpu,wasm' },
      engine: { type: 'string', default: 'onnxruntime' },
      dtype: { type: 'string' },
      threads: { type: 'string', default: '0' },
      pp: { type: 'string' },
      tg: { type: 'string' },
      depth: { type: 'string' },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      'warmup-s': { type: 'string' },
      rounds: { type: 'string' },
      'row-budget': { type: 'string' },
      baseline: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      md: { type: 'boolean', default: false },
      csv: { type: 'boolean', default: false },
      out: { type: 'string' },
      summary: { type: 'boolean', default: false },
    });
    if (values.summary) {
      if (positionals.length === 0)
        throw new EdgetierError('usage', 'Give at least one bench.json file or folder for --summary.');
      process.stdout.write(toSummaryMarkdown(positionals.map(readReport)));
      return 0;
    }
    if (positionals.length === 0)
      throw new EdgetierError(
        'usage',
        'Give at least one model folder or Hub id. Run `edgetier bench --help`.',
      );
    if ([values.json, values.md, values.csv].filter(Boolean).length > 1)
      throw new EdgetierError('usage', 'Give at most one of --json, --md and --csv.');
    const devices = parseList<Device>('device', values.device, isDevice, DEVICES);
    const dtypes =
      values.dtype === undefined ? null : parseList<Dtype>('dtype', values.dtype, isDtype, DTYPES);
    const cpuEngines = parseList<NodeRuntime>('engine', values.engine, isNodeRuntime, NODE_RUNTIMES);
    if (cpuEngines.includes('edgetier') && !devices.includes('cpu') && !devices.includes('wasm'))
      throw new EdgetierError(
        'usage',
        '--engine edgetier makes cpu and wasm rows: add cpu or wasm to --device.',
      );
    const threads = values.threads.split(',').map((t) => parseIntegerOption('threads', t.trim(), 0));
    const params: BenchParams = {
      pp: parseIntegerOption('pp', values.pp, DEFAULT_BENCH_PARAMS.pp),
      tg: parseIntegerOption('tg', values.tg, DEFAULT_BENCH_PARAMS.tg),
      reps: parseIntegerOption('reps', values.reps, DEFAULT_BENCH_PARAMS.reps),
      warmup: parseIntegerOption('warmup', values.warmup, DEFAULT_BENCH_PARAMS.warmup),
      warmup_s: parseIntegerOption('warmup-s', values['warmup-s'], DEFAULT_WARMUP_S),
    };
    if (params.warmup === 0) {
      // warmup_s only extends a warm-up: refused where there is none, and recorded as 0 then.
      if (values['warmup-s'] !== undefined && params.warmup_s !== 0)
        throw new EdgetierError(
          'usage',
          '--warmup-s needs --warmup 1 or more: with --warmup 0 nothing warms up.',
        );
      params.warmup_s = 0;
    }
    let depths: number[];
    try {
      depths = parseDepths(values.depth);
    } catch (error) {
      throw new EdgetierError('usage', (error as Error).message);
    }
    // Depth 0 alone is the plain method: its reports stay as they were.
    if (depths.length !== 1 || depths[0] !== 0) params.depth = depths;
    const rounds = parseIntegerOption('rounds', values.rounds, 1);
    // One round is the plain method: its reports stay as they were.
    if (rounds !== 1) params.rounds = rounds;
    const rowBudgetS = parseIntegerOption('row-budget', values['row-budget'], DEFAULT_ROW_BUDGET_S);
    if (params.reps < 1) throw new EdgetierError('usage', '--reps must be at least 1.');
    if (rounds < 1 || rounds > params.reps)
      throw new EdgetierError(
        'usage',
        `--rounds must be between 1 and --reps (${params.reps}): each round runs at least one repetition.`,
      );
    if (params.reps % rounds !== 0)
      throw new EdgetierError(
        'usage',
        `--reps (${params.reps}) must be a multiple of --rounds (${rounds}): every round runs the same ` +
          `repetitions; use --reps ${nearestMultiples(params.reps, rounds).join(' or ')}.`,
      );
    if (params.pp === 0 && params.tg === 0)
      throw new EdgetierError('usage', '--pp and --tg cannot both be 0.');
    // Browser rows need Chromium: without it, say so in one line before any row runs.
    if (values.baseline || devices.some((d) => d !== 'cpu')) requireChromium();

    const report = await runBench(
      {
        models: positionals,
        devices,
        dtypes,
        threads: [...new Set(threads)],
        cpuEngines,
        params,
        rowBudgetS,
        baseline: values.baseline,
        command: ['edgetier', 'bench', ...args].join(' '),
      },
      progressReporter(process.stderr),
    );
    if (values.out) {
      const written = writeReportFiles(report, values.out);
      process.stderr.write(`wrote ${written.join(', ')}\n`);
    }
    const text = values.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : values.csv
        ? toCsv(report)
        : toMarkdown(report);
    process.stdout.write(text);
    return report.rows.every((r) => r.error) ? 1 : 0;
  },
};
