/**
 * Picks how to run a model on this device: an ordered list of {device, dtype, threads, build}, each
 * with the reasons it was chosen, tried in order by the engine worker when one fails. Pure: the
 * capabilities come in as data (detected once in the worker), so every rule is unit-tested in Node.
 *
 * The one promise it keeps: it never silently picks a path that is many times slower than another
 * available one. A software WebGPU adapter (SwiftShader) is left out of the automatic order, and q4
 * on WASM (MatMulNBits runs at a few tokens/s there) is only planned when nothing else exists, with
 * a reason that says so.
 */
import type { Capabilities } from './capabilities.ts';
import {
  AUTO_ENGINE_PREFERS_Q4,
  AUTO_ENGINE_Q4_REASON,
  autoPlansEngineQ4,
  ortDtypeAfterRefusal,
} from './cpu-runtime-plan.ts';
import type { Device } from './device.ts';
import type { Dtype } from './dtypes.ts';
import type { CpuRuntimeChoice } from './engine.ts';

/**
 * The onnxruntime-web build the worker loads. `webgpu` is ORT's asyncify build (WebGPU + WASM, the
 * one transformers.js loads by default); `jspi` and `wasm` are CPU-only builds, 1.3-1.8x faster on
 * WASM and half the download. Only one is ever fetched by a page.
 */
export type OrtBuild = 'webgpu' | 'jspi' | 'wasm';

export interface BackendChoice {
  device: Exclude<Device, 'cpu'>;
  dtype: Dtype;
  threads: number;
  build: OrtBuild;
  /** Why this entry is here and at this rank, for the user to read. */
  reasons: string[];
  /**
   * Where the plan chose q4 for edgetier's CPU engine (AUTO_ENGINE_PREFERS_Q4): the dtype ONNX Runtime
   * loads instead if the engine refuses the model at load time (WorkerEngine's fallback).
   */
  ortDtype?: Dtype;
}

/** What the planner needs to know about the model. Unknown fields mean "assume it fits". */
export interface ModelFacts {
  /** Weight files the model folder offers; all five when unknown. */
  dtypes?: readonly Dtype[];
  /** Size of each dtype's .onnx (+ external data), for memory and storage checks. */
  bytesByDtype?: Partial<Record<Dtype, number>>;
  /** The largest single weight (usually the embedding) per dtype, checked against GPU buffer limits. */
  largestTensorBytesByDtype?: Partial<Record<Dtype, number>>;
  /** config.json has the `edgetier` block convert/synth write (EngineQ4Facts.engineGraph); absent: no. */
  engineGraph?: boolean;
  /**
   * Why edgetier's CPU engine will refuse this folder, known from its settings before any weight is
   * read (a sliding attention window, a generation_config.json setting it does not implement): the
   * engine's own words. The plan then keeps q4 off the engine.
   */
  cpuEngineRefusal?: string;
}

/** A user's override: any field given wins, the rest is planned. */
export interface PlanOverride {
  device?: Exclude<Device, 'cpu'>;
  dtype?: Dtype;
  threads?: number;
  build?: OrtBuild;
}

export interface WasmSpeed {
  build: OrtBuild;
  dtype: Dtype;
  threads: number;
  decodeTokPerSec: number;
  ttftMs: number;
}

/**
 * Decode speed of the SmolLM2-135M shape twin on WASM in headless Chromium on a shared 2-core x86 VM
 * (greedy, 64 new tokens). The planner only uses their order. Sources (bench/results/wasm-cpu-speed.md):
 * - jspi rows and the asyncify (`webgpu`) q8 row: `edgetier bench` with --baseline at load average
 *   ~4 (bench/results/smollm2-135m-twin-wasm); the asyncify row is the stock transformers.js page.
 * - plain `wasm` rows: interleaved Chromium runs at load average 6-13 (table A there), so lower.
 * - jspi fp32 row: measured, tg64 of `npx edgetier bench models/smollm2-135m-twin --device cpu,wasm
 *   --dtype fp32,q8 --threads 1,2 --baseline` (bench/results/smollm2-135m-twin/bench.json, load ~0.5).
 */
export const WASM_SPEEDS: readonly WasmSpeed[] = [
  { build: 'webgpu', dtype: 'q8', threads: 1, decodeTokPerSec: 14.7, ttftMs: 164 },
  { build: 'jspi', dtype: 'q8', threads: 1, decodeTokPerSec: 14.6, ttftMs: 200 },
  { build: 'jspi', dtype: 'q8', threads: 2, decodeTokPerSec: 20, ttftMs: 120 },
  { build: 'jspi', dtype: 'fp32', threads: 2, decodeTokPerSec: 19.2, ttftMs: 250 },
  { build: 'jspi', dtype: 'q4', threads: 1, decodeTokPerSec: 1.5, ttftMs: 1038 },
  { build: 'jspi', dtype: 'q4', threads: 2, decodeTokPerSec: 1.1, ttftMs: 1201 },
  { build: 'wasm', dtype: 'q8', threads: 1, decodeTokPerSec: 7.1, ttftMs: 610 },
  { build: 'wasm', dtype: 'q8', threads: 2, decodeTokPerSec: 3.8, ttftMs: 1000 },
  // Derived, no plain-build run: fp32 = q8 x 0.92 as for jspi; q4 = q8 x the jspi q4/q8 ratio.
  { build: 'wasm', dtype: 'fp32', threads: 1, decodeTokPerSec: 6.5, ttftMs: 900 },
  { build: 'wasm', dtype: 'q4', threads: 1, decodeTokPerSec: 0.7, ttftMs: 2000 },
];

/** A path slower than the best by more than this factor is never planned silently. */
export const SLOW_PATH_FACTOR = 3;

/**
 * Speeds within this fraction of each other count as a tie on WASM, and the smaller download wins:
 * fp32 and q8 decode at the same speed there (within the noise of every measurement), q8 is a
 * quarter of the bytes.
 */
export const WASM_SPEED_TIE = 0.15;
/** Bytes per weight, smallest first: the tie-break on WASM. */
const DOWNLOAD_ORDER: readonly Dtype[] = ['q4', 'q4f16', 'q8', 'fp16', 'fp32'];

/** WebGPU dtypes from most to least preferred: half-precision weights halve memory traffic. */
const WEBGPU_ORDER: readonly Dtype[] = ['q4f16', 'fp16', 'q4', 'fp32', 'q8'];
const ALL_DTYPES: readonly Dtype[] = ['fp32', 'fp16', 'q8', 'q4', 'q4f16'];
const GIB = 1024 ** 3;

/** The CPU build for this browser: JSPI where `WebAssembly.Suspending` exists, else the plain build. */
export function cpuBuild(capabilities: Capabilities): OrtBuild {
  return capabilities.jspi ? 'jspi' : 'wasm';
}

/**
 * WASM threads: 1 without cross-origin isolation (no SharedArrayBuffer); otherwise every core up
 * to 4. Measured on 2 cores (WASM_SPEEDS): 2 threads decoded 1.4x faster than 1 (ORT's own default,
 * half the cores) with 0.6x the time to first token at load average ~4; under heavy load (6-13)
 * the two were a toss-up. More cores were not available to measure.
 */
export function wasmThreads(capabilities: Capabilities): number {
  if (!capabilities.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(4, capabilities.hardwareConcurrency || 1));
}

/**
 * Measured decode speed of a dtype on a build, at the same thread count when measured, else the
 * build's fastest; falls back to the same dtype on any build.
 */
export function wasmSpeed(build: OrtBuild, dtype: Dtype, threads?: number): number | undefined {
  const rows = WASM_SPEEDS.filter((r) => r.dtype === dtype);
  const same = rows.filter((r) => r.build === build);
  const pool = same.length > 0 ? same : rows;
  if (pool.length === 0) return undefined;
  const atThreads = pool.filter((r) => r.threads === threads);
  return Math.max(...(atThreads.length > 0 ? atThreads : pool).map((r) => r.decodeTokPerSec));
}

function fitsMemory(capabilities: Capabilities, bytes: number | undefined): string | null {
  if (bytes === undefined) return null;
  if (capabilities.deviceMemoryGiB !== null && bytes > capabilities.deviceMemoryGiB * GIB * 0.5) {
    return `needs ${formatGiB(bytes)} but the device reports ${capabilities.deviceMemoryGiB} GiB of memory`;
  }
  const storage = capabilities.storage;
  if (storage && storage.quotaBytes > 0 && bytes > storage.quotaBytes - storage.usageBytes) {
    return `needs ${formatGiB(bytes)} of storage but only ${formatGiB(storage.quotaBytes - storage.usageBytes)} is free`;
  }
  return null;
}

function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

function webgpuChoices(capabilities: Capabilities, model: ModelFacts, dtypes: readonly Dtype[]) {
  const choices: BackendChoice[] = [];
  const notes: string[] = [];
  const gpu = capabilities.webgpu;
  if (!gpu) {
    notes.push(`WebGPU skipped: ${capabilities.webgpuUnavailableReason ?? 'no WebGPU adapter'}.`);
    return { choices, notes };
  }
  if (gpu.isFallbackAdapter) {
    notes.push(
      `WebGPU skipped: the adapter (${gpu.vendor || 'unknown'} ${gpu.architecture}) is a software fallback, ` +
        'about 100x slower than WASM on the CPU.',
    );
    return { choices, notes };
  }
  for (const dtype of WEBGPU_ORDER) {
    if (!dtypes.includes(dtype)) continue;
    const reasons = [`WebGPU adapter ${gpu.vendor} ${gpu.architecture}`.trim()];
    if ((dtype === 'fp16' || dtype === 'q4f16') && !gpu.shaderF16) {
      notes.push(`WebGPU ${dtype} skipped: the adapter lacks shader-f16.`);
      continue;
    }
    if (dtype === 'q8') {
      // q8 (MatMulInteger) has no WebGPU kernel: ORT runs it on the CPU, slower than WASM q8.
      continue;
    }
    const largest = model.largestTensorBytesByDtype?.[dtype];
    if (largest !== undefined && largest > gpu.maxStorageBufferBindingSizeBytes) {
      notes.push(
        `WebGPU ${dtype} skipped: a ${formatGiB(largest)} weight exceeds the adapter's ` +
          `${formatGiB(gpu.maxStorageBufferBindingSizeBytes)} storage-buffer limit.`,
      );
      continue;
    }
    const memory = fitsMemory(capabilities, model.bytesByDtype?.[dtype]);
    if (memory) {
      notes.push(`WebGPU ${dtype} skipped: ${memory}.`);
      continue;
    }
    if (dtype === 'q4f16' || dtype === 'fp16') reasons.push('shader-f16 available: half-precision weights');
    if (dtype === 'q4') reasons.push('4-bit weights run fast on WebGPU (unlike WASM)');
    choices.push({ device: 'webgpu', dtype, threads: 1, build: 'webgpu', reasons });
  }
  return { choices, notes };
}

function wasmChoices(
  capabilities: Capabilities,
  model: ModelFacts,
  dtypes: readonly Dtype[],
  prefersQ4: boolean,
) {
  const build = cpuBuild(capabilities);
  const threads = wasmThreads(capabilities);
  const notes: string[] = [];
  const ranked = dtypes
    .filter((d) => d !== 'fp16' && d !== 'q4f16') // no fp16 kernels on WASM: emulated, very slow
    .map((dtype) => ({ dtype, speed: wasmSpeed(build, dtype, threads) ?? 0 }))
    .sort((a, b) => {
      const tie = Math.abs(a.speed - b.speed) <= WASM_SPEED_TIE * Math.max(a.speed, b.speed);
      if (!tie) return b.speed - a.speed;
      return DOWNLOAD_ORDER.indexOf(a.dtype) - DOWNLOAD_ORDER.indexOf(b.dtype);
    });
  const best = ranked[0]?.speed ?? 0;
  const choices: BackendChoice[] = [];
  for (const { dtype, speed } of ranked) {
    const reasons = [
      build === 'jspi'
        ? 'ORT JSPI build: WebAssembly.Suspending is available, 1.3-1.8x faster than the asyncify build'
        : 'ORT plain CPU build: no JSPI here; still faster than the asyncify build',
      capabilities.crossOriginIsolated
        ? `${threads} thread${threads === 1 ? '' : 's'} for ${capabilities.hardwareConcurrency} cores`
        : '1 thread: the page is not cross-origin isolated (no SharedArrayBuffer)',
    ];
    if (speed > 0) {
      reasons.push(`about ${speed} tok/s decode for this dtype on this build in edgetier's reference runs`);
    }
    const memory = fitsMemory(capabilities, model.bytesByDtype?.[dtype]);
    if (memory) {
      notes.push(`WASM ${dtype} skipped: ${memory}.`);
      continue;
    }
    if (best > 0 && speed > 0 && speed * SLOW_PATH_FACTOR < best) {
      if (choices.length > 0) {
        notes.push(`WASM ${dtype} skipped: ${speed} tok/s against ${best} tok/s for ${ranked[0]!.dtype}.`);
        continue;
      }
    }
    if (dtype === 'q4') {
      reasons.push('warning: q4 (MatMulNBits) runs at a few tokens/s on WASM; add q8 or fp32 weights');
    }
    choices.push({ device: 'wasm', dtype, threads, build, reasons });
  }
  // The ranking above is ONNX Runtime's; where edgetier's CPU engine will run the q4 file, it goes
  // first (ORT's ranking stays behind it as the fallback).
  const engineQ4 = autoPlansEngineQ4(
    { device: 'wasm', dtypes, engineGraph: model.engineGraph === true, wasmSimd: capabilities.wasmSimd },
    prefersQ4,
  );
  if (engineQ4 && model.cpuEngineRefusal) {
    notes.push(`WASM q4 on edgetier's CPU engine skipped: ${model.cpuEngineRefusal}`);
  } else if (engineQ4 && !fitsMemory(capabilities, model.bytesByDtype?.q4)) {
    const rest = choices.filter((c) => c.dtype !== 'q4');
    // Its threads as ORT's would be (the engine's pool takes the same count); ORT's build is the fallback's.
    const reasons = [AUTO_ENGINE_Q4_REASON, ...((rest[0] ?? choices[0])?.reasons.slice(0, 2) ?? [])];
    // Among what ORT's own plan kept (a dtype too big here is no fallback): q8, else ORT's first
    // choice (fp32 in convert's default fp32+q4 folder), never q4, which ORT decodes at about 1 tok/s.
    const ortDtype =
      ortDtypeAfterRefusal({ dtype: 'q4', dtypes: rest.map((c) => c.dtype), chosenByUser: false }) ??
      rest[0]?.dtype;
    // ORT's "q4 is slow" note is not about this q4.
    const kept = notes.filter((n) => !n.startsWith('WASM q4 skipped: '));
    return {
      choices: [
        {
          device: 'wasm' as const,
          dtype: 'q4' as const,
          threads,
          build,
          reasons,
          ...(ortDtype ? { ortDtype } : {}),
        },
        ...rest,
      ],
      notes: kept,
    };
  }
  return { choices, notes };
}

export interface BackendPlan {
  /** Tried in order until one loads. */
  choices: BackendChoice[];
  /** Paths considered and left out, with why. */
  skipped: string[];
}

/**
 * The ordered plan. With an override, the overridden entry comes first (reason "chosen by you") and
 * the automatic plan follows as fallback, without duplicates.
 */
export function planBackends(
  capabilities: Capabilities,
  model: ModelFacts = {},
  override?: PlanOverride,
  /** AUTO_ENGINE_PREFERS_Q4; a parameter so the tests cover both values. */
  prefersQ4 = AUTO_ENGINE_PREFERS_Q4,
) {
  const dtypes = model.dtypes && model.dtypes.length > 0 ? model.dtypes : ALL_DTYPES;
  const gpu = webgpuChoices(capabilities, model, dtypes);
  const cpu = wasmChoices(capabilities, model, dtypes, prefersQ4);
  const auto = [...gpu.choices, ...cpu.choices];
  const skipped = [...gpu.notes, ...cpu.notes];
  const choices: BackendChoice[] = [];
  if (override && Object.values(override).some((v) => v !== undefined)) {
    choices.push(resolveOverride(capabilities, override, auto));
  }
  for (const choice of auto) {
    if (!choices.some((c) => sameChoice(c, choice))) choices.push(choice);
  }
  return { choices, skipped } satisfies BackendPlan;
}

function resolveOverride(capabilities: Capabilities, override: PlanOverride, auto: BackendChoice[]) {
  const device = override.device ?? (override.build === 'webgpu' ? 'webgpu' : (auto[0]?.device ?? 'wasm'));
  const base = auto.find((c) => c.device === device && (!override.dtype || c.dtype === override.dtype));
  const dtype = override.dtype ?? base?.dtype ?? (device === 'webgpu' ? 'q4' : 'q8');
  const build = override.build ?? (device === 'webgpu' ? 'webgpu' : cpuBuild(capabilities));
  const threads = override.threads ?? (device === 'webgpu' ? 1 : wasmThreads(capabilities));
  // A dtype the planner chose for edgetier's CPU engine keeps its ORT fallback; one you chose is kept.
  const ortDtype = override.dtype === undefined && base?.dtype === dtype ? base.ortDtype : undefined;
  return {
    device,
    dtype,
    threads,
    build,
    reasons: ['chosen by you'],
    ...(ortDtype ? { ortDtype } : {}),
  } satisfies BackendChoice;
}

/**
 * The dtype a load of `choice` runs under the CPU engine setting `runtime`: a q4 the plan chose for
 * edgetier's CPU engine is Automatic's alone (AUTO_ENGINE_PREFERS_Q4); under another setting the app
 * loads ORT's choice (the choice's ortDtype), so what measures the app's chats (Bench) loads that too.
 */
export function dtypeUnderRuntime(choice: BackendChoice, runtime: CpuRuntimeChoice = 'auto'): Dtype {
  return runtime !== 'auto' && choice.ortDtype ? choice.ortDtype : choice.dtype;
}

function sameChoice(a: BackendChoice, b: BackendChoice): boolean {
  return a.device === b.device && a.dtype === b.dtype && a.threads === b.threads && a.build === b.build;
}

/** The ORT build that can run a device: WebGPU needs the asyncify build, WASM prefers JSPI/plain. */
export function buildForDevice(device: Exclude<Device, 'cpu'>, capabilities: Pick<Capabilities, 'jspi'>) {
  if (device === 'webgpu') return 'webgpu' as const;
  return capabilities.jspi ? ('jspi' as const) : ('wasm' as const);
}
