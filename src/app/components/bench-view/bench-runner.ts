/**
 * The Bench view's runner: the same method and report as `edgetier bench` (src/core/bench), run on
 * the visitor's own device through the page's engine (the WorkerEngine the app already uses), so a
 * JSON from here and one from the CLI can be compared row for row.
 */

import { type BackendPlan, dtypeUnderRuntime, type PlanOverride } from '../../../core/backend-plan.ts';
import { generateAtDepth } from '../../../core/bench/depth.ts';
import type { BenchParams, BenchStep, BenchTarget, PeakMemory } from '../../../core/bench/method.ts';
import { DEFAULT_ROW_BUDGET_S, measureConfig, rowBudgetNote } from '../../../core/bench/method.ts';
import {
  BENCH_SCHEMA,
  type BenchEnvironment,
  type BenchReport,
  benchRow,
  computeRatios,
  runtimeOutcome,
  webgpuFields,
} from '../../../core/bench/schema.ts';
import type { Capabilities } from '../../../core/capabilities.ts';
import type { CatalogEntry } from '../../../core/catalog.ts';
import type { Dtype } from '../../../core/dtypes.ts';
import type { CpuRuntimeChoice, Engine, LoadInfo, LoadRequest, ModelSource } from '../../../core/engine.ts';
import type { LoadedInfo, MemoryStats } from '../../../core/engine-protocol.ts';
import { isEdgetierError } from '../../../core/errors.ts';

/** What the WorkerEngine offers beyond the Engine contract; absent on other engines. */
interface EngineExtras {
  capabilities?: () => Promise<Capabilities>;
  memory?: () => Promise<MemoryStats>;
  plan?: (source: ModelSource, override?: PlanOverride) => Promise<BackendPlan>;
}

export interface DeviceBenchConfig {
  entry: CatalogEntry;
  device: 'wasm' | 'webgpu';
  dtype: Dtype;
  /** 0: the engine's choice. */
  threads: number;
  params: BenchParams;
  /** Seconds a row's counted repetitions may take (default DEFAULT_ROW_BUDGET_S; 0: no budget). */
  rowBudgetS?: number;
  /** The model's files were in the browser cache before the run: its first load is not cold. */
  cachedBefore?: boolean;
  /**
   * Device wasm: the CPU runtime the app loads with (AppState.cpuRuntimeFor: the CPU engine setting,
   * 'auto' by default), ONNX Runtime running what edgetier's CPU engine refuses, as in the app.
   * Absent: 'auto'.
   */
  runtime?: CpuRuntimeChoice;
  /**
   * With 'auto': the dtype ONNX Runtime loads if edgetier's CPU engine refuses a q4 the plan chose
   * for it (BackendChoice.ortDtype: q8), as the app's chats ask (AppState.load), not ORT's slow q4.
   */
  ortDtype?: Dtype;
}

/**
 * What the backend planner would load for this model on this device (its first choice, with the
 * visitor's own dtype choice as an override where they made one): the same configuration the app
 * loads on its own and the CLI's default row. Falls back to `fallback` where the engine cannot plan.
 */
export async function plannedBenchConfig(
  engine: Engine,
  entry: CatalogEntry,
  fallback: Pick<DeviceBenchConfig, 'device' | 'dtype'>,
  override?: PlanOverride,
  /** The app's CPU runtime on wasm (AppState.cpuRuntimeFor); absent: 'auto'. */
  runtime: CpuRuntimeChoice = 'auto',
): Promise<Pick<DeviceBenchConfig, 'device' | 'dtype' | 'threads' | 'ortDtype'>> {
  const plan = entry.source
    ? await (engine as Engine & EngineExtras).plan?.(entry.source, override).catch(() => undefined)
    : undefined;
  const first = plan?.choices[0];
  if (!first) return { ...fallback, threads: 0 };
  // The dtype the app's chats run under its CPU engine setting, not a q4 planned for Automatic only.
  const dtype = dtypeUnderRuntime(first, runtime);
  // Where that is the planned q4, ORT's dtype on a refusal goes with it.
  const ortDtype = dtype === first.dtype ? first.ortDtype : undefined;
  return { device: first.device, dtype, threads: first.threads, ...(ortDtype ? { ortDtype } : {}) };
}

/**
 * The load a Bench row asks for: what the app runs, its CPU runtime ('auto' picks edgetier's CPU
 * engine for q8/q4 on wasm), ORT where the engine refuses (on the plan's ortDtype, as the chats), with
 * warmupBudgetMs 0: the load alone is measured; the method runs its own warm-up.
 */
export function benchLoadRequest(
  source: ModelSource,
  config: Pick<DeviceBenchConfig, 'device' | 'dtype' | 'threads' | 'runtime' | 'ortDtype'>,
): LoadRequest & { fallbackToOrt: boolean; ortDtype?: Dtype } {
  const runtime = config.runtime ?? 'auto';
  return {
    source,
    device: config.device,
    dtype: config.dtype,
    warmupBudgetMs: 0,
    ...(config.threads > 0 ? { threads: config.threads } : {}),
    runtime,
    fallbackToOrt: true,
    // As load() sends it, whatever the runtime (the worker reads it only on a refusal it falls back from).
    ...(config.ortDtype ? { ortDtype: config.ortDtype } : {}),
  };
}

/**
 * What a load reported: the threads (a request may say 0), the runtime's build column (edgetier-wasm
 * for edgetier's CPU engine, else ORT's build) and a fallback to ORT, the row records them.
 */
interface Used {
  threads: number | null;
  build: string | null;
  /** The CPU engine ran: the memory figure is its own, not ORT's heap. */
  cpuEngine: boolean;
  note: string | null;
  /** The dtype that ran: ORT's (the request's ortDtype) after the engine refused a planned q4. */
  dtype: Dtype | null;
}

function target(
  engine: Engine & EngineExtras,
  source: ModelSource,
  config: DeviceBenchConfig,
  used: Used,
): BenchTarget {
  return {
    async load() {
      const start = performance.now();
      // The row is labelled with the runtime that ran.
      const request = benchLoadRequest(source, config);
      const info: LoadInfo & Partial<Pick<LoadedInfo, 'build'>> = await engine.load(request);
      used.threads = info.threads;
      if (typeof info.build === 'string') {
        const ran = runtimeOutcome({ ...info, build: info.build });
        used.build = ran.ort_build;
        used.note = ran.note;
      }
      used.cpuEngine = info.engine === 'edgetier-wasm';
      used.dtype = info.dtype;
      return { totalMs: performance.now() - start, downloadMs: info.downloadMs, initMs: info.initMs };
    },
    unload: () => engine.unload(),
    async generate(promptIds, newTokens, context = []) {
      // Streamed, as `edgetier bench` measures every row; a depth's context is filled first, untimed.
      return (await generateAtDepth(engine, context, promptIds, newTokens)).metrics;
    },
    async peakMemory(): Promise<PeakMemory> {
      const stats = await engine.memory?.().catch(() => null);
      if (used.cpuEngine)
        return stats?.cpuEngineBytes != null
          ? {
              bytes: stats.cpuEngineBytes,
              note: "edgetier's CPU engine's WebAssembly memory in the engine worker (weights, scratch, KV cache; it never shrinks: its peak)",
            }
          : { bytes: null, note: "the worker reported no memory of edgetier's CPU engine" };
      if (stats?.wasmHeapBytes != null)
        return {
          bytes: stats.wasmHeapBytes,
          note: "ORT's WebAssembly heap in the engine worker (it never shrinks: its peak)",
        };
      return {
        bytes: null,
        note: 'the engine reported no WebAssembly heap (WebGPU buffers are not counted)',
      };
    },
  };
}

async function environment(engine: EngineExtras): Promise<BenchEnvironment> {
  const caps = await engine.capabilities?.().catch(() => null);
  const nav = navigator as Navigator & {
    userAgentData?: { brands?: { brand: string; version: string }[]; platform?: string };
  };
  const brand = nav.userAgentData?.brands?.find(
    (b) => !/Not.?A.?Brand/i.test(b.brand) && b.brand !== 'Chromium',
  );
  return {
    cpu_model: null,
    cpu_cores: navigator.hardwareConcurrency || 1,
    os: nav.userAgentData?.platform || navigator.platform || 'unknown',
    node_version: null,
    browser_version: brand ? `${brand.brand} ${brand.version}` : navigator.userAgent,
    ...(caps ? webgpuFields(caps) : { webgpu: null, webgpu_unavailable_reason: null }),
    cross_origin_isolated:
      caps?.crossOriginIsolated ??
      (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated ??
      null,
    jspi: caps?.jspi ?? null,
    onnxruntime_node_version: null,
    onnxruntime_web_version: null,
    transformers_version: null,
    load_average: null,
  };
}

/** Runs one configuration and returns the whole report (one row; an error becomes the row's error). */
export async function runDeviceBench(
  engine: Engine,
  config: DeviceBenchConfig,
  onStep?: (step: BenchStep) => void,
): Promise<BenchReport> {
  const { entry } = config;
  if (!entry.source) throw new Error(`${entry.name} does not run on this device.`);
  const extras = engine as Engine & EngineExtras;
  const env = await environment(extras);
  const threads = Math.max(0, config.threads);
  // The view runs one depth (params.depth lists it when it is not 0).
  const depth = config.params.depth?.[0] ?? 0;
  const rowBudgetS = config.rowBudgetS ?? DEFAULT_ROW_BUDGET_S;
  const key = {
    model: entry.key,
    engine: 'edgetier' as const,
    device: config.device,
    dtype: config.dtype,
    threads,
    // Until a load says what ran (a row that failed to load keeps this; one that failed later does not).
    ort_build: config.device === 'webgpu' ? 'webgpu' : env.jspi ? 'jspi' : 'wasm',
    ...(config.device === 'wasm' ? { runtime: config.runtime ?? 'auto' } : {}),
    depth,
  };
  let row: ReturnType<typeof benchRow>;
  const used: Used = { threads: null, build: null, cpuEngine: false, note: null, dtype: null };
  try {
    // Ids below 256 exist in any vocabulary, for models whose shape the catalog does not know.
    const measured = await measureConfig(
      target(extras, entry.source, config, used),
      config.params,
      entry.shape?.vocabSize ?? 256,
      onStep,
      { rowBudgetMs: rowBudgetS * 1000, depth },
    );
    row = benchRow(
      {
        ...key,
        ...(used.threads ? { threads: used.threads } : {}),
        ...(used.build ? { ort_build: used.build } : {}),
        ...(used.dtype ? { dtype: used.dtype } : {}),
      },
      measured,
    );
    if (used.note) row.note = [row.note, used.note].filter(Boolean).join('; ');
  } catch (error) {
    // A load that ran says what ran, even where a later step failed.
    // The file whose load failed: ORT's fallback's where the engine refused the planned one.
    const failedDtype = used.dtype ?? (isEdgetierError(error) ? error.dtype : undefined);
    const ran = {
      ...key,
      ...(used.build ? { ort_build: used.build } : {}),
      ...(failedDtype ? { dtype: failedDtype } : {}),
    };
    row = benchRow(ran, {
      code: isEdgetierError(error) ? error.code : 'internal',
      message: error instanceof Error ? error.message : String(error),
    });
  }
  return {
    schema: BENCH_SCHEMA,
    created_at: new Date().toISOString(),
    command: 'app',
    params: { ...config.params },
    environment: env,
    models: [
      {
        id: entry.key,
        synthetic: entry.synthetic,
        mirrors: entry.mirrors ?? null,
        vocab_size: entry.shape?.vocabSize ?? 0,
      },
    ],
    rows: [row],
    ratios: computeRatios([row]),
    notes: [
      config.cachedBefore
        ? 'Run in the app on the visitor’s device. The model was in the browser cache before the run, so both loads read it from there: load.cold_ms is the first load of this run, not a cold one.'
        : 'Run in the app on the visitor’s device. The first load (load.cold_ms) downloaded the model: a cold load.',
      ...(rowBudgetS > 0 ? [rowBudgetNote(rowBudgetS, config.params.reps, config.params.warmup)] : []),
    ],
  };
}
