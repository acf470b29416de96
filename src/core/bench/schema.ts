/**
 * The benchmark report: one JSON document, the same from `edgetier bench` and from the app's Bench
 * view, so results from many devices can be gathered and compared. snake_case, units in the names.
 * BENCH_SCHEMA names the version; a change of meaning bumps it. Documented in bench/README.md.
 */
import type { Capabilities } from '../capabilities.ts';
import type { LoadedInfo } from '../engine-protocol.ts';
import type { BenchParams, ConfigMeasurement, LoadTiming } from './method.ts';
import type { Summary } from './stats.ts';

export const BENCH_SCHEMA = 'edgetier-bench/1';

/** Who runs the model in a row. */
export type BenchEngine =
  /**
   * edgetier's engine: the worker (wasm/webgpu) on ORT, or edgetier's own WebAssembly CPU engine
   * (`ort_build` 'edgetier-wasm'): in Node on device cpu, in the worker on device wasm.
   */
  | 'edgetier'
  /** Stock @huggingface/transformers `pipeline('text-generation')`, same browser (see BenchRow.setup). */
  | 'transformers.js'
  /** onnxruntime-node on the same model file, through edgetier's NodeEngine: the native ceiling. */
  | 'native';

export type StockSetup = 'defaults' | 'same threads';

export interface BenchStats {
  mean: number;
  sd: number;
  n: number;
  values: number[];
}

export interface BenchLoad {
  cold_ms: number;
  cold_download_ms: number | null;
  cold_init_ms: number | null;
  warm_ms: number;
  warm_download_ms: number | null;
  warm_init_ms: number | null;
}

export interface BenchRow {
  model: string;
  engine: BenchEngine;
  device: 'cpu' | 'wasm' | 'webgpu';
  /** The dtype asked for ('default' for the stock baseline before it reports one). */
  dtype: string;
  /**
   * Threads the row ran with (the stock rows: what ORT reported after loading); 0 means the
   * runtime's own choice, not reported.
   */
  threads: number;
  /**
   * Stock transformers.js rows only: `defaults` (everything as a visitor gets it, ORT's own thread
   * count included) or `same threads` (the one change: ORT's numThreads = the threads of edgetier's
   * default row). Absent on other rows, and in reports written before it existed, whose one stock
   * row is `defaults`.
   */
  setup?: StockSetup;
  /**
   * ORT build: 'jspi' | 'wasm' | 'webgpu' (asyncify) in the browser, 'onnxruntime-node' natively;
   * 'edgetier-wasm' for edgetier's own CPU engine (no ORT).
   */
  ort_build: string;
  /**
   * This row is edgetier's default WASM configuration: the backend planner's dtype and threads, on
   * the runtime 'auto' picks (`runtime` 'auto': edgetier's CPU engine for q8/q4, `ort_build`
   * 'edgetier-wasm'). In reports written before 'auto' existed (no `runtime`), ORT-web's row.
   */
  is_default: boolean;
  /**
   * edgetier's worker rows on device wasm: the CPU runtime the load asked for, 'auto' (the default
   * row: what the app runs) or pinned ('onnxruntime', 'edgetier'). Absent on other rows and in
   * reports written before it existed (their wasm rows ran ORT-web, pinned or not).
   */
  runtime?: 'auto' | 'onnxruntime' | 'edgetier';
  /**
   * This ORT-web row (pinned, device wasm) is the default row's "previous default": ORT-web on the
   * dtype ONNX Runtime's own plan picks (BackendChoice.ortDtype, else the default row's dtype) at the
   * default row's threads. `--baseline` marks it, since a q4 default's previous default is ORT's q8,
   * which no dtype match finds beside ORT-web q4 and q8 matrix rows. Absent on other rows and in
   * reports written before it existed, whose previous default is ORT-web on the same dtype and threads.
   */
  previous_default?: boolean;
  pp_tok_s: BenchStats | null;
  tg_tok_s: BenchStats | null;
  /** Time to first token after the pp-N prompt. */
  ttft_ms: BenchStats | null;
  load: BenchLoad | null;
  peak_memory_bytes: number | null;
  /** What peak_memory_bytes counts, or why it is null. */
  peak_memory_note: string;
  /** Set when this configuration could not run; the measurements are then null. */
  error: { code: string; message: string } | null;
  /**
   * A deviation from the report's params, e.g. "2 of 5 repetitions: row budget 60 s (one took ~48 s)";
   * null or absent (reports written before it existed) when there is none.
   */
  note?: string | null;
  /**
   * With params.rounds > 1: how many of the values in pp_tok_s, tg_tok_s and ttft_ms each round ran,
   * in order (the values are in round order). Absent: one round.
   */
  reps_by_round?: number[];
  /**
   * Uncounted warm-up runs per round, in order (one entry without rounds): at least params.warmup,
   * more under params.warmup_s. Absent in reports written before it existed.
   */
  warmup_runs?: number[];
  /**
   * Tokens already in the KV cache before each of the row's tests (`--depth`, llama-bench's `-d`):
   * its pp and tg are "pp N @ dD", "tg N @ dD". Absent in reports written before it existed: 0.
   */
  depth?: number;
}

export interface BenchWebGpu {
  vendor: string;
  architecture: string;
  description: string;
  is_fallback_adapter: boolean;
}

/** The report's WebGPU fields from the engine's capability probe (CLI and app alike). */
export function webgpuFields(
  caps: Capabilities,
): Pick<BenchEnvironment, 'webgpu' | 'webgpu_unavailable_reason'> {
  return {
    webgpu: caps.webgpu
      ? {
          vendor: caps.webgpu.vendor,
          architecture: caps.webgpu.architecture,
          description: caps.webgpu.description,
          is_fallback_adapter: caps.webgpu.isFallbackAdapter,
        }
      : null,
    webgpu_unavailable_reason: caps.webgpu ? null : (caps.webgpuUnavailableReason ?? 'no adapter'),
  };
}

export interface BenchEnvironment {
  cpu_model: string | null;
  /** Logical cores (os.cpus() in Node, navigator.hardwareConcurrency in a browser). */
  cpu_cores: number;
  os: string;
  node_version: string | null;
  browser_version: string | null;
  /** null: no browser rows, or the browser has no WebGPU adapter (see webgpu_unavailable_reason). */
  webgpu: BenchWebGpu | null;
  webgpu_unavailable_reason: string | null;
  cross_origin_isolated: boolean | null;
  jspi: boolean | null;
  onnxruntime_node_version: string | null;
  onnxruntime_web_version: string | null;
  transformers_version: string | null;
  /** 1/5/15-minute load averages at the start (Node only): other work on the machine skews results. */
  load_average: number[] | null;
}

export interface BenchModel {
  id: string;
  synthetic: boolean;
  mirrors: string | null;
  vocab_size: number;
}

export interface BenchRatio {
  /** e.g. "edgetier default wasm / stock transformers.js, same threads": names the denominator. */
  label: string;
  /** The model both rows ran (a report may hold several); absent in reports written before it. */
  model?: string;
  numerator: string;
  /** The denominator row (rowLabel). */
  denominator: string;
  /** null where the metric is not compared against this row (see the label) or was not measured. */
  pp: number | null;
  tg: number | null;
  /**
   * With params.rounds > 1: the same ratio inside each round (the two rows ran minutes apart at most),
   * in round order; its spread shows how much of the overall ratio is the machine's drift.
   */
  pp_by_round?: number[] | null;
  tg_by_round?: number[] | null;
  /** The depth both rows ran at (ratios compare rows of one depth only); absent: 0. */
  depth?: number;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  created_at: string;
  /** The command line (CLI) or "app" (Bench view). */
  command: string;
  params: BenchParams;
  environment: BenchEnvironment;
  models: BenchModel[];
  rows: BenchRow[];
  ratios: BenchRatio[];
  /** Deviations from the method a reader must know (e.g. where the stock setup's files came from). */
  notes: string[];
}

export function toStats(summary: Summary): BenchStats {
  return { mean: summary.mean, sd: summary.sd, n: summary.n, values: summary.values };
}

export function toLoad(cold: LoadTiming, warm: LoadTiming): BenchLoad {
  return {
    cold_ms: cold.totalMs,
    cold_download_ms: cold.downloadMs,
    cold_init_ms: cold.initMs,
    warm_ms: warm.totalMs,
    warm_download_ms: warm.downloadMs,
    warm_init_ms: warm.initMs,
  };
}

export type RowKey = Pick<BenchRow, 'model' | 'engine' | 'device' | 'dtype' | 'threads' | 'ort_build'> & {
  is_default?: boolean;
  runtime?: BenchRow['runtime'];
  previous_default?: boolean;
  setup?: StockSetup;
  depth?: number;
};

/** A row's depth: 0 where a report written before `depth` existed has none. */
export function rowDepth(row: Pick<BenchRow, 'depth'>): number {
  return row.depth ?? 0;
}

/** A row from a measurement or an error. */
export function benchRow(
  key: RowKey,
  outcome: ConfigMeasurement | { code: string; message: string },
): BenchRow {
  const base = { ...key, is_default: key.is_default ?? false };
  if ('code' in outcome) {
    return {
      ...base,
      pp_tok_s: null,
      tg_tok_s: null,
      ttft_ms: null,
      load: null,
      peak_memory_bytes: null,
      peak_memory_note: 'not measured: the configuration failed',
      error: { code: outcome.code, message: outcome.message },
      note: null,
    };
  }
  return {
    ...base,
    pp_tok_s: outcome.ppTokPerSec.n > 0 ? toStats(outcome.ppTokPerSec) : null,
    tg_tok_s: outcome.tgTokPerSec.n > 0 ? toStats(outcome.tgTokPerSec) : null,
    ttft_ms: outcome.ttftMs.n > 0 ? toStats(outcome.ttftMs) : null,
    load: toLoad(outcome.coldLoad, outcome.warmLoad),
    peak_memory_bytes: outcome.peakMemory.bytes,
    peak_memory_note: outcome.peakMemory.note,
    error: null,
    note: outcome.note,
    ...(outcome.repsByRound ? { reps_by_round: outcome.repsByRound } : {}),
    warmup_runs: outcome.warmupRunsByRound ?? [outcome.warmupRuns],
  };
}

/** The setup of a stock row: `defaults` where a report written before `setup` existed has none. */
export function stockSetup(row: BenchRow): StockSetup | null {
  return row.engine === 'transformers.js' ? (row.setup ?? 'defaults') : null;
}

/**
 * A short human label for a row: "edgetier wasm q8 2t (jspi)", "stock transformers.js (same threads) …";
 * the default row, which runs what 'auto' picked: "edgetier wasm q8 2t (edgetier-wasm, auto)".
 */
export function rowLabel(row: BenchRow): string {
  const setup = stockSetup(row);
  const engine = setup ? `stock transformers.js (${setup})` : row.engine;
  const threads = row.threads > 0 ? `${row.threads}t` : 'auto-threads';
  const depth = rowDepth(row) > 0 ? ` @ d${rowDepth(row)}` : '';
  const auto = row.runtime === 'auto' ? ', auto' : '';
  return `${engine} ${row.device} ${row.dtype} ${threads} (${row.ort_build}${auto})${depth}`;
}

/**
 * What a worker row says about the runtime that ran it, from its load's LoadedInfo: its build
 * column (edgetier-wasm for edgetier's CPU engine, ORT's build otherwise), its dtype where ONNX
 * Runtime loaded another file than the one planned for the CPU engine (a q4 plan re-planned to q8 on
 * a refusal; null otherwise) and, where the CPU engine refused the model or browser and ONNX Runtime
 * ran it instead, a note saying so.
 */
export function runtimeOutcome(
  info: Pick<LoadedInfo, 'engine' | 'build' | 'fallback' | 'runtimeChoice' | 'cpuKernels'> & {
    dtype?: string;
  },
): {
  ort_build: string;
  dtype: string | null;
  note: string | null;
} {
  const ort_build = info.engine === 'edgetier-wasm' ? 'edgetier-wasm' : info.build;
  const asked = info.runtimeChoice?.asked === 'edgetier' ? 'edgetier was asked for' : "'auto' chose";
  const planned = info.fallback?.plannedDtype;
  const dtype =
    planned !== undefined && info.dtype !== undefined && info.dtype !== planned ? info.dtype : null;
  const file = dtype ? ` on its ${dtype} file (${planned} was planned for the CPU engine)` : '';
  const note = info.fallback
    ? `${asked} edgetier's CPU engine, which refused this model or browser ` +
      `(${info.fallback.code}: ${info.fallback.reason}); ONNX Runtime (${info.build}) ran it${file}`
    : info.engine === 'edgetier-wasm' && info.cpuKernels
      ? `CPU engine kernels: ${info.cpuKernels}`
      : null;
  return { ort_build, dtype, note };
}

/** ORT-web's CPU builds (the asyncify `webgpu` build is the stock page's and WebGPU's). */
const ORT_WEB_CPU_BUILDS: readonly string[] = ['jspi', 'wasm'];

/** An ORT-web row of edgetier's on device wasm (pinned), not the default row: a previous-default candidate. */
function isOrtWebRow(r: BenchRow): boolean {
  return (
    !r.is_default &&
    r.engine === 'edgetier' &&
    r.device === 'wasm' &&
    ORT_WEB_CPU_BUILDS.includes(r.ort_build)
  );
}

/**
 * The ORT-web row that is the default row's previous default, at its threads and depth: what edgetier
 * ran by default before 'auto' picked its CPU engine (`--baseline` plans it). Where the report marks
 * it (`previous_default`: ORT's own plan's dtype, q8 for a q4 default), that row, or none if it
 * failed; in reports written before the mark, ORT-web on the default row's dtype. None where the
 * default row ran ORT-web itself (fp32/fp16, a fallback, or a report written before 'auto').
 */
export function ortWebPreviousDefault(rows: readonly BenchRow[], edge: BenchRow): BenchRow | undefined {
  // The default row ran ORT-web itself ('auto' plans ORT for fp32/fp16, ORT ran what the CPU engine
  // refused, or the report predates 'auto'): any such row would be ORT-web against ORT-web.
  if (ORT_WEB_CPU_BUILDS.includes(edge.ort_build)) return undefined;
  const sameRun = (r: BenchRow) => r !== edge && r.model === edge.model && rowDepth(r) === rowDepth(edge);
  const marked = rows.filter((r) => sameRun(r) && r.previous_default === true);
  // A marked row that failed leaves no previous default: a same-dtype match would be another kernel.
  if (marked.length > 0) return marked.find((r) => !r.error && isOrtWebRow(r));
  return rows.find(
    (r) => sameRun(r) && !r.error && isOrtWebRow(r) && r.dtype === edge.dtype && r.threads === edge.threads,
  );
}

/** a.mean / b.mean, or null when either is missing or b is not positive. */
export function statsRatio(a: BenchStats | null, b: BenchStats | null): number | null {
  if (!a || !b || !(b.mean > 0)) return null;
  return a.mean / b.mean;
}

/** A row's values split by round (reps_by_round), or null without rounds or when they disagree. */
function valuesByRound(row: BenchRow, stats: BenchStats | null): number[][] | null {
  const counts = row.reps_by_round;
  if (!counts || !stats || counts.reduce((a, b) => a + b, 0) !== stats.values.length) return null;
  let at = 0;
  return counts.map((n) => {
    at += n;
    return stats.values.slice(at - n, at);
  });
}

/** a / b inside each round: the ratio of the rounds' means, or null when the rounds do not pair up. */
export function roundRatios(
  a: BenchRow,
  b: BenchRow,
  pick: (row: BenchRow) => BenchStats | null,
): number[] | null {
  const x = valuesByRound(a, pick(a));
  const y = valuesByRound(b, pick(b));
  if (!x || !y || x.length !== y.length) return null;
  const avg = (v: number[]) => v.reduce((s, e) => s + e, 0) / v.length;
  const ratios = x.map((v, r) => (v.length > 0 && y[r]!.length > 0 ? avg(v) / avg(y[r]!) : Number.NaN));
  return ratios.every(Number.isFinite) ? ratios : null;
}

/** The rows a report compares for one model, each ratio's denominator. */
export interface ComparedRows {
  model: string;
  /** edgetier's default WASM row. */
  edge: BenchRow;
  /** Stock transformers.js at ORT's numThreads = the default row's threads, where ORT ran that many. */
  stockSameThreads: BenchRow | undefined;
  /** Stock transformers.js as a visitor gets it (ORT's own thread count). */
  stockDefaults: BenchRow | undefined;
  /** The native row on the same file (same dtype), at the default row's threads where there is one. */
  nativeSameDtype: BenchRow | undefined;
  /** The native row with the highest mean pp tok/s, and the one with the highest tg tok/s. */
  nativeFastestPp: BenchRow | undefined;
  nativeFastestTg: BenchRow | undefined;
  /**
   * ORT-web at the default row's threads on ORT's own plan's dtype (the marked row), or on the default
   * row's dtype in reports without the mark: the previous default (ortWebPreviousDefault); absent in
   * reports written before 'auto' and where the default row itself ran ORT-web.
   */
  ortWebPreviousDefault: BenchRow | undefined;
}

function fastest(rows: readonly BenchRow[], pick: (r: BenchRow) => BenchStats | null): BenchRow | undefined {
  return rows
    .filter((r) => pick(r) !== null)
    .reduce<BenchRow | undefined>(
      (best, r) => (!best || pick(r)!.mean > pick(best)!.mean ? r : best),
      undefined,
    );
}

/**
 * One entry per edgetier default WASM row that ran (without an error), each against the rows of its
 * own model and depth: a row at depth 2000 is no denominator for one at depth 0.
 */
export function comparedRows(rows: readonly BenchRow[]): ComparedRows[] {
  return rows
    .filter((r) => r.is_default && r.engine === 'edgetier' && !r.error)
    .map((edge) => {
      const sameModel = rows.filter(
        (r) => r.model === edge.model && rowDepth(r) === rowDepth(edge) && !r.error,
      );
      const native = sameModel.filter((r) => r.engine === 'native');
      const sameFile = native.filter((r) => r.dtype === edge.dtype);
      return {
        model: edge.model,
        edge,
        // ORT runs 1 thread without cross-origin isolation whatever it was asked: a "same threads"
        // row that ran another count (its threads column says so) is no same-threads denominator.
        stockSameThreads: sameModel.find(
          (r) => stockSetup(r) === 'same threads' && r.threads === edge.threads,
        ),
        stockDefaults: sameModel.find((r) => stockSetup(r) === 'defaults'),
        nativeSameDtype:
          sameFile.find((r) => r.threads === edge.threads) ?? fastest(sameFile, (r) => r.tg_tok_s),
        nativeFastestPp: fastest(native, (r) => r.pp_tok_s),
        nativeFastestTg: fastest(native, (r) => r.tg_tok_s),
        ortWebPreviousDefault: ortWebPreviousDefault(rows, edge),
      };
    });
}

/** The labels of the ratios, in the order a report states them; each names its denominator. */
export const RATIO_LABELS = {
  stockSameThreads: 'edgetier default wasm / stock transformers.js, same threads',
  stockDefaults: 'edgetier default wasm / stock transformers.js, defaults',
  nativeSameDtype: 'edgetier default wasm / native onnxruntime-node, same dtype (same file)',
  nativeFastestPp: 'edgetier default wasm / native onnxruntime-node, fastest pp row (pp only)',
  nativeFastestTg: 'edgetier default wasm / native onnxruntime-node, fastest tg row (tg only)',
  // Reports without `previous_default` (matched by dtype); a marked row's label is previousDefaultLabel's.
  ortWebPreviousDefault: 'edgetier default wasm / ORT-web (previous default), same dtype and threads',
} as const;

/**
 * The previous-default ratio's label, true to how its row was found: a marked row is ORT's own plan's
 * dtype (which a q4 default does not share), an unmarked one the default row's dtype.
 */
export function previousDefaultLabel(previous: BenchRow): string {
  return previous.previous_default === true
    ? `edgetier default wasm / ORT-web (previous default: ORT's plan, ${previous.dtype}, same threads)`
    : RATIO_LABELS.ortWebPreviousDefault;
}

/**
 * edgetier's default WASM row against each denominator of the same model: stock transformers.js at
 * the same threads and at its defaults, native on the same file (pp and tg), native's fastest row
 * for each metric separately (pp against the fastest pp row, tg against the fastest tg row), and
 * ORT-web at the same threads on ORT's own plan's dtype (the previous default), where the report has
 * that row.
 */
export function computeRatios(rows: readonly BenchRow[]): BenchRatio[] {
  const out: BenchRatio[] = [];
  for (const compared of comparedRows(rows)) {
    const { edge } = compared;
    for (const key of Object.keys(RATIO_LABELS) as (keyof typeof RATIO_LABELS)[]) {
      const other = compared[key];
      if (!other) continue;
      const pp = key !== 'nativeFastestTg';
      const tg = key !== 'nativeFastestPp';
      out.push({
        label: key === 'ortWebPreviousDefault' ? previousDefaultLabel(other) : RATIO_LABELS[key],
        model: compared.model,
        numerator: rowLabel(edge),
        denominator: rowLabel(other),
        pp: pp ? statsRatio(edge.pp_tok_s, other.pp_tok_s) : null,
        tg: tg ? statsRatio(edge.tg_tok_s, other.tg_tok_s) : null,
        ...(edge.reps_by_round
          ? {
              pp_by_round: pp ? roundRatios(edge, other, (r) => r.pp_tok_s) : null,
              tg_by_round: tg ? roundRatios(edge, other, (r) => r.tg_tok_s) : null,
            }
          : {}),
        ...(rowDepth(edge) > 0 ? { depth: rowDepth(edge) } : {}),
      });
    }
  }
  return out;
}

/** A row at a depth against the same configuration at depth 0: how much a full cache slows it. */
export interface DepthRatio {
  /** The row at depth > 0. */
  row: BenchRow;
  /** The same configuration (model, engine, device, dtype, threads, build, default, runtime, setup) at depth 0. */
  base: BenchRow;
  pp: number | null;
  tg: number | null;
  /** The tg ratio inside each round (see roundRatios), or null. */
  tg_by_round: number[] | null;
}

/** Every row at a depth > 0 that ran, against its depth-0 twin where that ran too. */
export function depthRatios(rows: readonly BenchRow[]): DepthRatio[] {
  const sameConfig = (a: BenchRow, b: BenchRow) =>
    a.model === b.model &&
    a.engine === b.engine &&
    a.device === b.device &&
    a.dtype === b.dtype &&
    a.threads === b.threads &&
    a.ort_build === b.ort_build &&
    // The default row ('auto') and a pinned row of the same build are two configurations.
    a.is_default === b.is_default &&
    a.runtime === b.runtime &&
    stockSetup(a) === stockSetup(b);
  const out: DepthRatio[] = [];
  for (const row of rows) {
    if (row.error || rowDepth(row) === 0) continue;
    const base = rows.find((b) => !b.error && rowDepth(b) === 0 && sameConfig(row, b));
    if (!base) continue;
    out.push({
      row,
      base,
      pp: statsRatio(row.pp_tok_s, base.pp_tok_s),
      tg: statsRatio(row.tg_tok_s, base.tg_tok_s),
      tg_by_round: roundRatios(row, base, (r) => r.tg_tok_s),
    });
  }
  return out;
}

/** Checks a parsed document against the schema; returns the problems found (empty when valid). */
export function validateBenchReport(value: unknown): string[] {
  const problems: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const isCount = (v: unknown) => Number.isInteger(v) && Number(v) >= 0;
  if (!isObject(value)) return ['the report is not a JSON object'];
  if (value.schema !== BENCH_SCHEMA)
    problems.push(`schema is ${JSON.stringify(value.schema)}, not "${BENCH_SCHEMA}"`);
  for (const key of ['created_at', 'command'] as const)
    if (typeof value[key] !== 'string') problems.push(`${key} must be a string`);
  const params = value.params;
  if (!isObject(params)) problems.push('params must be an object');
  else
    for (const key of ['pp', 'tg', 'reps', 'warmup'])
      if (!Number.isInteger(params[key])) problems.push(`params.${key} must be an integer`);
  if (
    isObject(params) &&
    params.rounds !== undefined &&
    !(Number.isInteger(params.rounds) && Number(params.rounds) >= 1)
  )
    problems.push('params.rounds must be an integer of at least 1 when present');
  if (
    isObject(params) &&
    params.warmup_s !== undefined &&
    !(typeof params.warmup_s === 'number' && params.warmup_s >= 0)
  )
    problems.push('params.warmup_s must be a number of at least 0 when present');
  if (
    isObject(params) &&
    params.depth !== undefined &&
    !(Array.isArray(params.depth) && params.depth.length > 0 && params.depth.every(isCount))
  )
    problems.push('params.depth must be a non-empty array of integers of at least 0 when present');
  const env = value.environment;
  if (!isObject(env)) problems.push('environment must be an object');
  else {
    if (!Number.isInteger(env.cpu_cores)) problems.push('environment.cpu_cores must be an integer');
    if (typeof env.os !== 'string') problems.push('environment.os must be a string');
    const load = env.load_average;
    if (load !== undefined && load !== null && !(Array.isArray(load) && load.every(isFiniteNumber)))
      problems.push('environment.load_average must be null or an array of numbers');
  }
  if (!Array.isArray(value.models)) problems.push('models must be an array');
  else
    value.models.forEach((m: unknown, i) => {
      if (
        !isObject(m) ||
        typeof m.id !== 'string' ||
        typeof m.synthetic !== 'boolean' ||
        !(m.mirrors === null || m.mirrors === undefined || typeof m.mirrors === 'string') ||
        !isFiniteNumber(m.vocab_size)
      )
        problems.push(`models[${i}] must be {id, synthetic, mirrors, vocab_size}`);
    });
  if (!Array.isArray(value.ratios)) problems.push('ratios must be an array');
  if (!Array.isArray(value.notes)) problems.push('notes must be an array');
  if (!Array.isArray(value.rows)) return [...problems, 'rows must be an array'];
  value.rows.forEach((row: unknown, i) => {
    if (!isObject(row)) {
      problems.push(`rows[${i}] must be an object`);
      return;
    }
    for (const key of ['model', 'engine', 'device', 'dtype', 'ort_build', 'peak_memory_note'])
      if (typeof row[key] !== 'string') problems.push(`rows[${i}].${key} must be a string`);
    if (!Number.isInteger(row.threads)) problems.push(`rows[${i}].threads must be an integer`);
    if (row.depth !== undefined && !isCount(row.depth))
      problems.push(`rows[${i}].depth must be an integer of at least 0 when present`);
    if (typeof row.is_default !== 'boolean') problems.push(`rows[${i}].is_default must be a boolean`);
    if (row.setup !== undefined && row.setup !== 'defaults' && row.setup !== 'same threads')
      problems.push(`rows[${i}].setup must be "defaults" or "same threads" when present`);
    if (
      row.runtime !== undefined &&
      row.runtime !== 'auto' &&
      row.runtime !== 'onnxruntime' &&
      row.runtime !== 'edgetier'
    )
      problems.push(`rows[${i}].runtime must be "auto", "onnxruntime" or "edgetier" when present`);
    else if (row.runtime !== undefined && !(row.engine === 'edgetier' && row.device === 'wasm'))
      problems.push(`rows[${i}].runtime is only for edgetier's rows on device wasm`);
    else if (row.runtime === 'onnxruntime' && row.ort_build === 'edgetier-wasm')
      problems.push(
        `rows[${i}] pins runtime "onnxruntime" yet names edgetier's CPU engine (ort_build "edgetier-wasm")`,
      );
    if (row.previous_default !== undefined && typeof row.previous_default !== 'boolean')
      problems.push(`rows[${i}].previous_default must be a boolean when present`);
    else if (
      row.previous_default === true &&
      !(
        row.engine === 'edgetier' &&
        row.device === 'wasm' &&
        row.is_default === false &&
        (row.runtime === undefined || row.runtime === 'onnxruntime') &&
        ORT_WEB_CPU_BUILDS.includes(String(row.ort_build))
      )
    )
      problems.push(
        `rows[${i}].previous_default marks only a pinned ORT-web row of edgetier's on device wasm (ort_build "jspi" or "wasm", not the default row)`,
      );
    const failed = row.error !== null;
    if (failed && !(isObject(row.error) && typeof row.error.message === 'string'))
      problems.push(`rows[${i}].error must be null or {code, message}`);
    for (const key of ['pp_tok_s', 'tg_tok_s', 'ttft_ms']) {
      const s = row[key];
      if (s === null) continue;
      // The summary computes ratios and per-round means from these: strings or negatives would
      // give wrong figures rather than an error.
      if (
        !isObject(s) ||
        !(isFiniteNumber(s.mean) && s.mean >= 0 && isFiniteNumber(s.sd) && s.sd >= 0) ||
        !Array.isArray(s.values) ||
        !s.values.every((v) => isFiniteNumber(v) && v >= 0) ||
        s.n !== s.values.length
      )
        problems.push(`rows[${i}].${key} must be null or {mean, sd, n, values}`);
    }
    for (const key of ['reps_by_round', 'warmup_runs']) {
      const counts = row[key];
      if (counts !== undefined && !(Array.isArray(counts) && counts.every(isCount)))
        problems.push(`rows[${i}].${key} must be an array of integers of at least 0 when present`);
    }
  });
  // One previous default per model and depth: the ratio would otherwise pick one of them at random.
  const marked = new Map<string, number>();
  value.rows.forEach((row: unknown, i) => {
    if (!isObject(row) || row.previous_default !== true) return;
    const at = JSON.stringify([row.model, row.depth ?? 0]);
    const first = marked.get(at);
    if (first === undefined) marked.set(at, i);
    else
      problems.push(
        `rows[${first}] and rows[${i}] both mark the previous default of model ${String(row.model)} at depth ${String(row.depth ?? 0)}`,
      );
  });
  return problems;
}
