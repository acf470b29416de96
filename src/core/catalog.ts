/**
 * The model catalog: one typed list of every tier a person can pick, from the smallest on-device
 * model to the full-scale remote tier. Built-in entries are real Hugging Face Hub models; the
 * server's /models/index.json adds local folders (synthetic twins among them); Settings adds the
 * remote tiers. Everything here is pure data and pure functions, so selection is tested in Node.
 *
 * Download sizes and memory are estimates from the parameter count and the architecture (the
 * exact bytes of a Hub repo are only known once its files are listed), and are labelled as such.
 */
import { type OrtBuild, wasmSpeed } from './backend-plan.ts';
import {
  AUTO_ENGINE_PREFERS_Q4,
  autoPlansEngineQ4,
  CPU_DTYPES,
  isEdgetierBlock,
  planCpuRuntime,
} from './cpu-runtime-plan.ts';
import { type Dtype, isDtype } from './dtypes.ts';
import type { CpuRuntimeChoice, ModelSource } from './engine.ts';
import { cpuEngineKvCacheBytes, defaultKvCacheType } from './kv-cache.ts';

/** The parts of the architecture that decide memory: KV cache per token and the largest tensor. */
export interface ModelShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  /**
   * q/k/v projections carry biases (config.json, as the server reads it); absent: the family's
   * usual (Qwen2 has them). The CPU engine keeps such a model's KV cache in float32.
   */
  attentionBias?: boolean;
  /** Some layers attend to a sliding window (edgetier's CPU engine refuses such a model). */
  slidingWindow?: boolean;
}

export interface CatalogEntry {
  /** Unique key: the Hub id, `local:<folder>` or `remote:<tier id>`. */
  key: string;
  /** What a person reads. */
  name: string;
  family: string;
  /** Where it runs: on this device (browser) or on a server. */
  runs: 'device' | 'remote';
  /** Where the files come from (device entries only). */
  source?: ModelSource;
  /** Parameter count (total, embeddings included); null when unknown (a remote tier). */
  params: number | null;
  /** Weight formats available, best default first. */
  dtypes: Dtype[];
  /** Bytes per weight format when known exactly (server folders); otherwise estimated. */
  downloadBytes: Partial<Record<Dtype, number>>;
  shape?: ModelShape;
  /** Longest context the model was trained for, in tokens; null when unknown. */
  contextLength: number | null;
  /** SPDX id or the licence's name. */
  licence: string;
  /** A synthetic shape twin: the real architecture with random weights (its answers are noise). */
  synthetic: boolean;
  /** For twins: the real model whose shapes it copies. */
  mirrors?: string;
  /**
   * edgetier wrote its graph (config.json's `edgetier` block, as `convert`/`synth` write it), so
   * edgetier's CPU engine will read it (EngineQ4Facts.engineGraph); absent: a Hub export, ORT's.
   */
  engineGraph?: boolean;
  /** Why edgetier's CPU engine will refuse it anyway, known from its files (the server's index). */
  cpuEngineRefusal?: string;
  /** Writes a <think>…</think> part before answering. */
  reasoning: boolean;
  origin: 'builtin' | 'server' | 'settings';
  /** Remote tiers only. */
  remote?: RemoteTier;
  note?: string;
}

/** A remote OpenAI-compatible endpoint, as configured in Settings. */
export interface RemoteTier {
  id: string;
  name: string;
  /** Base URL up to and including /v1, or '' for the app's own server (edgetier serve). */
  baseUrl: string;
  model: string;
  /** US dollars per million input tokens and per million output tokens. */
  priceInPerMTok: number;
  priceOutPerMTok: number;
}

/** What the device offers, reduced to what fit decisions need (from the capability check). */
export interface DeviceBudget {
  webgpu: boolean;
  shaderF16: boolean;
  /** navigator.deviceMemory (GiB, capped at 8 by browsers); null when the browser hides it. */
  deviceMemoryGiB: number | null;
  /** GPUAdapter limits.maxBufferSize in bytes; null without WebGPU. */
  maxBufferBytes: number | null;
  /** The ORT build and threads the backend planner gives WASM here (cpuBuild, wasmThreads); absent when unknown. */
  wasm?: { build: OrtBuild; threads: number };
  /** WebAssembly has SIMD128 (Capabilities.wasmSimd): edgetier's CPU engine can run; absent when unknown. */
  wasmSimd?: boolean;
}

/**
 * What a remote tier serves, as its server lists it in /v1/models. Only the app's own server
 * (edgetier serve) is believed about twins and parameter counts; any other tier could claim anything.
 */
export interface ServedModel {
  /** The model id the server answers with. */
  id: string;
  synthetic: boolean;
  /** For twins: the real model whose shapes it copies. */
  mirrors?: string;
  /** Parameter count, where the server says it. */
  params?: number;
}

/**
 * No language model has this many parameters (the largest published are a few trillion): a claim
 * above it is a damaged or hostile figure, never drawn (it would shrink every other bar to nothing).
 */
export const MAX_PLAUSIBLE_PARAMS = 1e14;

/** Parameters of the model the planner's WASM speed table was measured on (the SmolLM2-135M shape twin). */
export const SPEED_REFERENCE_PARAMS = 134.5e6;
/** Decode below this many tokens per second reads slower than a person reads: "slow here". */
export const SLOW_DECODE_TOK_PER_SEC = 5;

/** A decode speed the in-app Bench measured on this device. */
export interface MeasuredSpeed {
  decodeTokPerSec: number;
  device: 'wasm' | 'webgpu';
  dtype: Dtype;
  threads: number;
  /** Tokens generated per run (tg). */
  tg: number;
  /** edgetier's CPU engine ran it (wasm, since 'auto'); absent: ONNX Runtime Web did, as before 'auto'. */
  cpuEngine?: boolean;
  /**
   * The file edgetier's CPU engine refused (the load asked for it) before ONNX Runtime ran this one:
   * what the same load runs again, so AppState.speed shows it where the app would ask the engine for
   * that file again, and only there.
   */
  refused?: Dtype;
}

export interface SpeedExpectation {
  decodeTokPerSec: number;
  /** 'bench': measured by Bench on this device; 'plan': scaled from the planner's reference runs. */
  source: 'bench' | 'plan';
  /** The figure is a floor: a model smaller than the reference one decodes at least as fast. */
  atLeast: boolean;
  /** Where the figure comes from, in one sentence a person can check. */
  basis: string;
}

export type FitVerdict = 'fits' | 'tight' | 'too-big' | 'remote';

export interface FitAssessment {
  verdict: FitVerdict;
  /** The backend it would run on here. */
  device: 'webgpu' | 'wasm' | 'server';
  /** One sentence a person can act on. */
  reason: string;
  memoryBytes: number | null;
}

const GiB = 1024 ** 3;
const MB = 1e6;

/** A wasm32 heap holds at most 4 GiB; leave room for the runtime itself. */
export const WASM_MEMORY_LIMIT_BYTES = 3.5 * GiB;
/** Context assumed when estimating the KV cache of a chat. */
export const DEFAULT_CONTEXT_FOR_MEMORY = 4096;
/** ONNX Runtime, tokenizer and activations beyond weights and KV cache. */
const RUNTIME_OVERHEAD_BYTES = 200 * MB;

/**
 * Bytes per parameter of each weight format in the onnx-community layout. The 4-bit formats keep
 * the embedding table and norms wider, hence more than half a byte per parameter.
 */
const BYTES_PER_PARAM: Record<Dtype, number> = { fp32: 4, fp16: 2, q8: 1.05, q4: 0.75, q4f16: 0.6 };

export function estimateDownloadBytes(entry: CatalogEntry, dtype: Dtype): number | null {
  const exact = entry.downloadBytes[dtype];
  if (exact !== undefined) return exact;
  if (entry.params === null) return null;
  return Math.round(entry.params * BYTES_PER_PARAM[dtype]);
}

/** A KV cache element: ORT keeps the graph file's (fp16 or fp32), edgetier's CPU engine int8 or fp32. */
export type KvElement = 'float16' | 'float32' | 'int8';

/**
 * KV cache bytes for `tokens` tokens. ORT's caches grow by the token; the CPU engine's by chunks
 * (cpuEngineKvCacheBytes: an int8 head vector carries a float32 scale), its float32 cache counted
 * as ORT's (the chunk rounding is at most 63 positions).
 */
export function kvCacheBytes(shape: ModelShape, tokens: number, element: KvElement): number {
  if (element === 'int8') return cpuEngineKvCacheBytes(shape, tokens, 'int8');
  const bytesPerValue = element === 'float16' ? 2 : 4;
  return 2 * shape.layers * shape.kvHeads * shape.headDim * tokens * bytesPerValue;
}

/**
 * Whether edgetier's CPU engine may run `entry` at all, as far as its folder tells before any
 * download: a graph edgetier wrote, no sliding window, no refusal the index found (its
 * generation_config.json).
 */
function engineMayRun(entry: CatalogEntry): boolean {
  return entry.engineGraph === true && entry.shape?.slidingWindow !== true && !entry.cpuEngineRefusal;
}

/**
 * Whether edgetier's CPU engine will run a load of `entry` in `dtype`, as far as is known before any
 * download: on WASM, under a CPU runtime that picks it (planCpuRuntime), a folder it may run
 * (engineMayRun), a format it runs, WebAssembly SIMD. Otherwise ONNX Runtime
 * runs it (after a refusal, where the engine was asked for).
 */
export function cpuEngineWillRun(
  entry: CatalogEntry,
  dtype: Dtype,
  device: 'webgpu' | 'wasm',
  runtime: CpuRuntimeChoice = 'auto',
  wasmSimd = false,
): boolean {
  return (
    device === 'wasm' &&
    engineMayRun(entry) &&
    wasmSimd &&
    (CPU_DTYPES as readonly Dtype[]).includes(dtype) &&
    planCpuRuntime({ runtime, device, dtype }).runtime === 'edgetier'
  );
}

/**
 * The KV cache element a load of `entry` in `dtype` keeps. ORT (transformers.js allocates the cache
 * by the graph's past_key_values inputs) keeps the file's: float16 for fp16 and q4f16 files, float32
 * for the others, on either device. edgetier's CPU engine, where it will run the model
 * (cpuEngineWillRun), keeps its default (src/core/kv-cache.ts: int8 for a q4 file without attention
 * biases, else float32).
 */
export function kvElementFor(
  entry: CatalogEntry,
  dtype: Dtype,
  device: 'webgpu' | 'wasm',
  runtime: CpuRuntimeChoice = 'auto',
  wasmSimd = false,
): KvElement {
  const ort: KvElement = dtype === 'fp16' || dtype === 'q4f16' ? 'float16' : 'float32';
  if (!entry.shape || !cpuEngineWillRun(entry, dtype, device, runtime, wasmSimd)) return ort;
  const bias = entry.shape.attentionBias ?? entry.family === 'qwen2';
  return defaultKvCacheType(dtype, entry.shape.headDim, bias);
}

/** Weights + KV cache for a chat of DEFAULT_CONTEXT_FOR_MEMORY tokens (capped at the model's) + runtime. */
export function estimateMemoryBytes(
  entry: CatalogEntry,
  dtype: Dtype,
  device: 'webgpu' | 'wasm',
  /** The cache's element (kvElementFor); absent: ORT's for this file. */
  element: KvElement = kvElementFor(entry, dtype, device),
): number | null {
  const weights = estimateDownloadBytes(entry, dtype);
  if (weights === null) return null;
  const tokens = Math.min(DEFAULT_CONTEXT_FOR_MEMORY, entry.contextLength ?? DEFAULT_CONTEXT_FOR_MEMORY);
  const kv = entry.shape ? kvCacheBytes(entry.shape, tokens, element) : 0;
  return weights + kv + RUNTIME_OVERHEAD_BYTES;
}

/**
 * The budget a dtype is planned by where Settings forces a backend: WASM on a machine with WebGPU
 * plans as a WASM-only device (q8, or q4 for edgetier's CPU engine), not q4f16 for a GPU it won't use.
 */
export function budgetForBackend(budget: DeviceBudget, backend: 'auto' | 'webgpu' | 'wasm'): DeviceBudget {
  return backend === 'wasm' && budget.webgpu ? { ...budget, webgpu: false, shaderF16: false } : budget;
}

/**
 * The dtype this device should use for an entry: 4-bit f16 on a GPU with shader-f16, q8 on WASM (ORT
 * decodes q4 at a few tokens/s there), or q4 where 'auto' plans it for edgetier's CPU engine
 * (autoPlansEngineQ4: the switch, a folder edgetier wrote, WASM SIMD).
 */
export function preferredDtype(
  entry: CatalogEntry,
  budget: DeviceBudget,
  /** The CPU runtime a load would ask for on wasm (the CPU engine setting). */
  runtime: CpuRuntimeChoice = 'auto',
  prefersQ4 = AUTO_ENGINE_PREFERS_Q4,
): Dtype {
  const engineQ4 = autoPlansEngineQ4(
    {
      runtime,
      device: budget.webgpu ? 'webgpu' : 'wasm',
      dtypes: entry.dtypes,
      // A folder the engine is known to refuse keeps ORT's plan: q8, not q4.
      engineGraph: engineMayRun(entry),
      wasmSimd: budget.wasmSimd === true,
    },
    prefersQ4,
  );
  if (engineQ4) return 'q4';
  const order: Dtype[] =
    budget.webgpu && budget.shaderF16
      ? ['q4f16', 'fp16', 'q4', 'q8', 'fp32']
      : ['q8', 'q4', 'fp32', 'fp16', 'q4f16'];
  return order.find((d) => entry.dtypes.includes(d)) ?? entry.dtypes[0] ?? 'q8';
}

/**
 * preferredDtype, unless its file is still to download and the file the switch's other value would
 * plan (AUTO_ENGINE_PREFERS_Q4: q8 or q4 on WASM, both run by the same runtime) is whole in the model
 * cache (`cached`: CachedModel.dtypes, which the engine's worker reads from its cache): then that one.
 * Always, not only offline: offline it is the only file that loads (the planned one would fail with
 * download_failed), and online a returning visitor is not made to download the model a second time
 * (and hold both copies) for a gain that is a download size they already paid. A format neither plan
 * picks here (fp32, q4f16 without f16, q4 under ONNX Runtime) is no substitute; under an explicit
 * edgetier, Automatic's q4 is one.
 */
export function preferredDtypeWithCache(
  entry: CatalogEntry,
  budget: DeviceBudget,
  runtime: CpuRuntimeChoice = 'auto',
  cached: readonly Dtype[] | undefined = undefined,
  prefersQ4 = AUTO_ENGINE_PREFERS_Q4,
): Dtype {
  const planned = preferredDtype(entry, budget, runtime, prefersQ4);
  if (!cached || cached.includes(planned)) return planned;
  const others = [preferredDtype(entry, budget, runtime, !prefersQ4)];
  // An explicit edgetier runs the q4 Automatic plans for it as well (a refusal loads q8 on ORT,
  // ortDtypeAfterRefusal): switching the setting to it does not download the model again.
  if (runtime === 'edgetier') others.push(preferredDtype(entry, budget, 'auto', true));
  return others.find((d) => cached.includes(d)) ?? planned;
}

/** Whether a format needs f16 shaders (or runs emulated and slowly without them). */
const needsF16 = (dtype: Dtype): boolean => dtype === 'fp16' || dtype === 'q4f16';

/** Whether `entry` in `dtype` fits this device, and why. Pure: the capability check is an input. */
export function assessFit(
  entry: CatalogEntry,
  dtype: Dtype,
  budget: DeviceBudget,
  options: {
    /** The CPU runtime a load on wasm asks for (the CPU engine setting): it decides the KV cache's element. */
    runtime?: CpuRuntimeChoice;
    /** Settings force WASM (`budget` is then budgetForBackend's): said where it is the reason. */
    forcedWasm?: boolean;
    /** Settings force WebGPU (on a device that has it): assessed there, whatever the dtype. */
    forcedWebgpu?: boolean;
  } = {},
): FitAssessment {
  const runtime = options.runtime ?? 'auto';
  if (entry.runs === 'remote') {
    return {
      verdict: 'remote',
      device: 'server',
      reason: 'Runs on the server: nothing to download.',
      memoryBytes: null,
    };
  }
  const device: 'webgpu' | 'wasm' =
    (options.forcedWebgpu && budget.webgpu) || (budget.webgpu && (!needsF16(dtype) || budget.shaderF16))
      ? 'webgpu'
      : 'wasm';
  const element = kvElementFor(entry, dtype, device, runtime, budget.wasmSimd === true);
  const memoryBytes = estimateMemoryBytes(entry, dtype, device, element);
  if (memoryBytes === null) {
    return { verdict: 'tight', device, reason: 'Size unknown: it may not fit.', memoryBytes };
  }
  if (needsF16(dtype) && !budget.shaderF16) {
    return {
      verdict: 'too-big',
      device,
      reason: options.forcedWasm
        ? `${dtype} runs on a GPU with shader-f16 only, and Settings force WASM; pick q8 or q4, or set the backend to Automatic.`
        : `${dtype} needs a GPU with shader-f16; pick q8 or q4 on this device.`,
      memoryBytes,
    };
  }
  if (device === 'wasm' && memoryBytes > WASM_MEMORY_LIMIT_BYTES) {
    return {
      verdict: 'too-big',
      device,
      reason: `Needs about ${formatBytes(memoryBytes)}, over the 4 GiB WebAssembly limit; needs WebGPU or a smaller format.`,
      memoryBytes,
    };
  }
  if (device === 'webgpu' && entry.shape && budget.maxBufferBytes !== null) {
    const embeddingBytes = entry.shape.vocabSize * entry.shape.hiddenSize * (dtype === 'fp32' ? 4 : 2);
    if (embeddingBytes > budget.maxBufferBytes) {
      return {
        verdict: 'too-big',
        device,
        reason: `Its embedding table (${formatBytes(embeddingBytes)}) exceeds this GPU's largest buffer (${formatBytes(budget.maxBufferBytes)}).`,
        memoryBytes,
      };
    }
  }
  if (budget.deviceMemoryGiB !== null) {
    const deviceBytes = budget.deviceMemoryGiB * GiB;
    if (memoryBytes > deviceBytes) {
      return {
        verdict: 'too-big',
        device,
        reason: `Needs about ${formatBytes(memoryBytes)}; this device reports ${budget.deviceMemoryGiB} GiB.`,
        memoryBytes,
      };
    }
    if (memoryBytes > deviceBytes / 2) {
      return {
        verdict: 'tight',
        device,
        reason: `Needs about ${formatBytes(memoryBytes)}, over half of this device's ${budget.deviceMemoryGiB} GiB.`,
        memoryBytes,
      };
    }
  }
  return {
    verdict: 'fits',
    device,
    reason: `Needs about ${formatBytes(memoryBytes)} on ${device === 'webgpu' ? 'WebGPU' : 'WASM'}.`,
    memoryBytes,
  };
}

/**
 * How fast `entry` should decode here, and where that figure comes from: the in-app Bench's own
 * measurement on this device when it ran this model in this format, else (WASM only) the planner's
 * reference speed for the format, build and threads (measured on the 135M twin) scaled by the
 * parameter count, since a decode step reads every weight once. Null where nothing honest can be
 * said: a remote tier, an unknown size, or WebGPU (no reference run on a GPU).
 */
export function expectedDecodeSpeed(
  entry: CatalogEntry,
  dtype: Dtype,
  device: 'webgpu' | 'wasm',
  wasm: DeviceBudget['wasm'],
  measured?: MeasuredSpeed,
  /** The app's load would run edgetier's CPU engine (the CPU runtime plan on wasm): the other's figure is not its speed. */
  cpuEngine = false,
): SpeedExpectation | null {
  if (entry.runs === 'remote') return null;
  if (
    measured &&
    measured.dtype === dtype &&
    measured.device === device &&
    (device !== 'wasm' || (measured.cpuEngine === true) === cpuEngine)
  ) {
    const threads = measured.device === 'wasm' ? `, ${plural(measured.threads, 'thread')}` : '';
    const ran = measured.cpuEngine
      ? ", edgetier's CPU engine"
      : measured.refused
        ? `, ONNX Runtime after edgetier's CPU engine refused the ${measured.refused} file`
        : '';
    return {
      decodeTokPerSec: measured.decodeTokPerSec,
      source: 'bench',
      atLeast: false,
      basis: `Measured by Bench on this device (tg${measured.tg}, ${measured.device.toUpperCase()} ${measured.dtype}${threads}${ran}).`,
    };
  }
  if (entry.params === null || entry.params <= 0 || device !== 'wasm' || !wasm) return null;
  // The reference table is ONNX Runtime's, whose q4 is 25x slower than the CPU engine's: no estimate.
  if (cpuEngine && dtype === 'q4') return null;
  const reference = wasmSpeed(wasm.build, dtype, wasm.threads);
  if (reference === undefined) return null;
  const measuredOn = `${reference} tok/s for ${dtype} on the ${wasm.build} build with ${plural(wasm.threads, 'thread')}, measured on the 135M twin on a 2-core machine`;
  // Below the reference size, fixed costs per step dominate: a smaller model is not proportionally faster.
  if (entry.params <= SPEED_REFERENCE_PARAMS) {
    return {
      decodeTokPerSec: reference,
      source: 'plan',
      atLeast: true,
      basis: `Estimate: no smaller than the backend plan's ${measuredOn}. Run Bench to measure it here.`,
    };
  }
  return {
    decodeTokPerSec: (reference * SPEED_REFERENCE_PARAMS) / entry.params,
    source: 'plan',
    atLeast: false,
    basis: `Estimate: the backend plan's ${measuredOn}, scaled by parameter count. Run Bench to measure it here.`,
  };
}

/** A speed as people read it: one decimal under 10 tok/s, whole numbers above. */
export function formatTokPerSec(tokPerSec: number): string {
  return `${tokPerSec < 10 ? tokPerSec.toFixed(1) : Math.round(tokPerSec)} tok/s`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Short names for the spectrum's chips: a model's name without the usual suffixes ("Instruct",
 * "IT", "ONNX"), or its full name where two would read alike (letter case aside); where even full
 * names read alike (a tier named as a server folder), where it comes from, then a number.
 */
export function spectrumLabels(entries: readonly CatalogEntry[]): Map<string, string> {
  const short = (name: string) => {
    let out = name.trim();
    for (let prev = ''; prev !== out; ) {
      prev = out;
      out = out.replace(/[\s_-]+(instruct|it|onnx|chat)$/i, '').trim();
    }
    return out || name;
  };
  const alike = (label: string) => label.trim().toLowerCase();
  /** Replaces every label that reads like another's with `longer(...)`. */
  const separate = (labels: string[], longer: (i: number) => string) => {
    const counts = new Map<string, number>();
    for (const label of labels) counts.set(alike(label), (counts.get(alike(label)) ?? 0) + 1);
    return labels.map((label, i) => ((counts.get(alike(label)) ?? 0) > 1 ? longer(i) : label));
  };
  const WHERE: Record<CatalogEntry['origin'], string> = {
    server: 'folder',
    builtin: 'Hub',
    settings: 'tier',
  };
  let labels = separate(
    entries.map((e) => short(e.name)),
    (i) => entries[i]!.name.trim(),
  );
  labels = separate(labels, (i) => `${labels[i]} (${WHERE[entries[i]!.origin] ?? entries[i]!.origin})`);
  labels = separate(labels, (i) => `${labels[i]} #${i + 1}`);
  return new Map(entries.map((e, i) => [e.key, labels[i]!]));
}

/** A Bench speed above this is no measurement of a language model decoding (a damaged record). */
export const MAX_PLAUSIBLE_TOK_PER_SEC = 100_000;
const isCount = (n: unknown, max: number): n is number =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 && n <= max;

/**
 * The Bench speeds saved in localStorage, keeping only records whose every field is a plausible
 * figure (a speed in (0, 100 000] tok/s, a known device and format, whole threads and tokens); a
 * damaged record is nothing measured.
 */
export function parseMeasuredSpeeds(raw: string | null): Record<string, MeasuredSpeed> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw ?? '{}');
  } catch {
    return {};
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const kept: [string, MeasuredSpeed][] = [];
  for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!v || typeof v !== 'object') continue;
    const m = v as Record<string, unknown>;
    if (
      typeof m.decodeTokPerSec === 'number' &&
      Number.isFinite(m.decodeTokPerSec) &&
      m.decodeTokPerSec > 0 &&
      m.decodeTokPerSec <= MAX_PLAUSIBLE_TOK_PER_SEC &&
      (m.device === 'wasm' || m.device === 'webgpu') &&
      typeof m.dtype === 'string' &&
      isDtype(m.dtype) &&
      isCount(m.threads, 1024) &&
      isCount(m.tg, 1_000_000)
    ) {
      kept.push([
        key,
        {
          decodeTokPerSec: m.decodeTokPerSec,
          device: m.device,
          dtype: m.dtype,
          threads: m.threads,
          tg: m.tg,
          ...(m.cpuEngine === true ? { cpuEngine: true } : {}),
          ...(typeof m.refused === 'string' &&
          isDtype(m.refused) &&
          m.cpuEngine !== true &&
          m.device === 'wasm'
            ? { refused: m.refused }
            : {}),
        },
      ]);
    }
  }
  // fromEntries defines each key as its own property: a "__proto__" key never reaches the prototype.
  return Object.fromEntries(kept);
}

export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(bytes >= 10 * GiB ? 0 : 1)} GiB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

export function formatParams(params: number | null): string {
  if (params === null) return '—';
  if (params >= 1e9) return `${(params / 1e9).toFixed(params >= 1e10 ? 0 : 1)}B`;
  if (params < 1e6) return `${(params / 1e6).toFixed(1)}M`;
  return `${Math.round(params / 1e6)}M`;
}

const hub = (id: string): ModelSource => ({ kind: 'hub', id });
const ALL_WEB_DTYPES: Dtype[] = ['q4f16', 'q8', 'q4', 'fp16', 'fp32'];

/** Real Hub models in the onnx-community layout that transformers.js runs in a browser. */
export const BUILTIN_MODELS: readonly CatalogEntry[] = [
  {
    key: 'onnx-community/SmolLM2-135M-Instruct-ONNX',
    name: 'SmolLM2 135M Instruct',
    family: 'llama',
    runs: 'device',
    source: hub('onnx-community/SmolLM2-135M-Instruct-ONNX'),
    params: 134.5e6,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 30, kvHeads: 3, headDim: 64, hiddenSize: 576, vocabSize: 49152 },
    contextLength: 8192,
    licence: 'Apache-2.0',
    synthetic: false,
    reasoning: false,
    origin: 'builtin',
    note: 'The smallest: instant on any device, simple answers.',
  },
  {
    key: 'onnx-community/SmolLM2-360M-Instruct-ONNX',
    name: 'SmolLM2 360M Instruct',
    family: 'llama',
    runs: 'device',
    source: hub('onnx-community/SmolLM2-360M-Instruct-ONNX'),
    params: 361.8e6,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 32, kvHeads: 5, headDim: 64, hiddenSize: 960, vocabSize: 49152 },
    contextLength: 8192,
    licence: 'Apache-2.0',
    synthetic: false,
    reasoning: false,
    origin: 'builtin',
  },
  {
    key: 'onnx-community/Qwen2.5-0.5B-Instruct',
    name: 'Qwen2.5 0.5B Instruct',
    family: 'qwen2',
    runs: 'device',
    source: hub('onnx-community/Qwen2.5-0.5B-Instruct'),
    params: 494e6,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 24, kvHeads: 2, headDim: 64, hiddenSize: 896, vocabSize: 151936 },
    contextLength: 32768,
    licence: 'Apache-2.0',
    synthetic: false,
    reasoning: false,
    origin: 'builtin',
  },
  {
    key: 'onnx-community/Qwen2.5-Coder-0.5B-Instruct',
    name: 'Qwen2.5 Coder 0.5B Instruct',
    family: 'qwen2',
    runs: 'device',
    source: hub('onnx-community/Qwen2.5-Coder-0.5B-Instruct'),
    params: 494e6,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 24, kvHeads: 2, headDim: 64, hiddenSize: 896, vocabSize: 151936 },
    contextLength: 32768,
    licence: 'Apache-2.0',
    synthetic: false,
    reasoning: false,
    origin: 'builtin',
    note: 'Tuned for code.',
  },
  {
    key: 'onnx-community/Qwen3-0.6B-ONNX',
    name: 'Qwen3 0.6B',
    family: 'qwen3',
    runs: 'device',
    source: hub('onnx-community/Qwen3-0.6B-ONNX'),
    params: 596e6,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 28, kvHeads: 8, headDim: 128, hiddenSize: 1024, vocabSize: 151936 },
    contextLength: 40960,
    licence: 'Apache-2.0',
    synthetic: false,
    reasoning: true,
    origin: 'builtin',
    note: 'Thinks before answering (the thinking part is folded).',
  },
  {
    key: 'onnx-community/Llama-3.2-1B-Instruct',
    name: 'Llama 3.2 1B Instruct',
    family: 'llama',
    runs: 'device',
    source: hub('onnx-community/Llama-3.2-1B-Instruct'),
    params: 1.236e9,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 16, kvHeads: 8, headDim: 64, hiddenSize: 2048, vocabSize: 128256 },
    contextLength: 131072,
    licence: 'Llama 3.2 Community License',
    synthetic: false,
    reasoning: false,
    origin: 'builtin',
  },
  {
    key: 'onnx-community/gemma-3-1b-it-ONNX',
    name: 'Gemma 3 1B IT',
    family: 'gemma3',
    runs: 'device',
    source: hub('onnx-community/gemma-3-1b-it-ONNX'),
    params: 1.0e9,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 26, kvHeads: 1, headDim: 256, hiddenSize: 1152, vocabSize: 262144 },
    contextLength: 32768,
    licence: 'Gemma Terms of Use',
    synthetic: false,
    reasoning: false,
    origin: 'builtin',
  },
  {
    key: 'onnx-community/Qwen3-1.7B-ONNX',
    name: 'Qwen3 1.7B',
    family: 'qwen3',
    runs: 'device',
    source: hub('onnx-community/Qwen3-1.7B-ONNX'),
    params: 1.72e9,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 28, kvHeads: 8, headDim: 128, hiddenSize: 2048, vocabSize: 151936 },
    contextLength: 40960,
    licence: 'Apache-2.0',
    synthetic: false,
    reasoning: true,
    origin: 'builtin',
  },
  {
    key: 'onnx-community/DeepSeek-R1-Distill-Qwen-1.5B-ONNX',
    name: 'DeepSeek R1 Distill Qwen 1.5B',
    family: 'qwen2',
    runs: 'device',
    source: hub('onnx-community/DeepSeek-R1-Distill-Qwen-1.5B-ONNX'),
    params: 1.78e9,
    dtypes: ALL_WEB_DTYPES,
    downloadBytes: {},
    shape: { layers: 28, kvHeads: 2, headDim: 128, hiddenSize: 1536, vocabSize: 151936 },
    contextLength: 131072,
    licence: 'MIT',
    synthetic: false,
    reasoning: true,
    origin: 'builtin',
    note: 'A reasoning model distilled from DeepSeek-R1.',
  },
];

/** One entry of the server's /models/index.json, as far as the catalog needs it. */
export interface ServerModelEntry {
  /** Folder name under /models/. */
  name: string;
  /** URL of the folder (defaults to /models/<name>/). */
  url?: string;
  family?: string;
  synthetic?: boolean;
  mirrors?: string;
  params?: number;
  contextLength?: number;
  licence?: string;
  /** Bytes of each weight file present. */
  dtypes?: Partial<Record<Dtype, number>>;
  shape?: ModelShape;
  /** config.json's `edgetier` provenance block (convert/synth write it); null or absent: none. */
  edgetier?: Record<string, unknown> | null;
  /** Why edgetier's CPU engine will refuse the folder (its generation_config.json), where known. */
  cpuEngineRefusal?: string;
}

/** `edgetier synth` writes "none (…)" for test shapes that copy no real model. */
const mirrorsRealModel = (mirrors: string | undefined): mirrors is string =>
  !!mirrors && !mirrors.startsWith('none');

/** Turns the server's local folders into catalog entries (twins flagged). */
export function entriesFromServer(models: readonly ServerModelEntry[]): CatalogEntry[] {
  return models.map((served) => {
    // A folder's config.json is a stranger's: no bidi controls, which would reverse the note's words.
    const m = { ...served, mirrors: served.mirrors?.replace(/[\u202A-\u202E\u2066-\u2069]/g, '') };
    const dtypes = (Object.keys(m.dtypes ?? {}) as Dtype[]).sort(
      (a, b) => ALL_WEB_DTYPES.indexOf(a) - ALL_WEB_DTYPES.indexOf(b),
    );
    const entry: CatalogEntry = {
      key: `local:${m.name}`,
      name: m.name,
      family: m.family ?? 'unknown',
      runs: 'device',
      source: { kind: 'url', url: m.url ?? `/models/${encodeURIComponent(m.name)}/` },
      params: m.params ?? null,
      dtypes: dtypes.length > 0 ? dtypes : ['fp32'],
      downloadBytes: { ...(m.dtypes ?? {}) },
      contextLength: m.contextLength ?? null,
      licence: m.licence ?? (m.synthetic ? 'Apache-2.0 (random weights)' : 'see the model folder'),
      synthetic: m.synthetic ?? false,
      reasoning: false,
      origin: 'server',
      note: m.synthetic
        ? mirrorsRealModel(m.mirrors)
          ? `Synthetic twin of ${m.mirrors}: real shapes, random weights. For speed, not answers.`
          : 'Synthetic test model: random weights. For speed, not answers.'
        : 'Served by edgetier serve from a local folder.',
    };
    if (m.shape) entry.shape = m.shape;
    if (mirrorsRealModel(m.mirrors)) entry.mirrors = m.mirrors;
    if (isEdgetierBlock(m.edgetier)) entry.engineGraph = true;
    if (typeof m.cpuEngineRefusal === 'string') entry.cpuEngineRefusal = m.cpuEngineRefusal;
    return entry;
  });
}

/**
 * What a tier is called: its name in Settings, then, once its server said what it serves, that
 * model ("This server: qwen2.5-0.5b-twin"): never "full-scale" for what may be a small twin.
 */
export function tierDisplayName(
  tier: Pick<RemoteTier, 'name'>,
  served: ServedModel | null | undefined,
): string {
  return served ? `${tier.name}: ${servedId(served)}` : tier.name;
}

/**
 * A served model's id with no bidi controls: a server's words, shown in option text (which cannot
 * be isolated), where an override would reverse what follows it ("· synthetic twin").
 */
function servedId(served: ServedModel): string {
  return served.id.replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, '');
}

/**
 * Remote tiers from Settings as catalog entries, named by what they serve where the server said
 * (`served`, by catalog key), a twin marked as one.
 */
export function entriesFromTiers(
  tiers: readonly RemoteTier[],
  served: Readonly<Record<string, ServedModel | null>> = {},
): CatalogEntry[] {
  return tiers.map((t) => {
    const key = `remote:${t.id}`;
    const model = served[key];
    const entry: CatalogEntry = {
      key,
      name: tierDisplayName(t, model),
      family: 'remote',
      runs: 'remote',
      params: null,
      dtypes: [],
      downloadBytes: {},
      contextLength: null,
      licence: 'per the provider',
      synthetic: model?.synthetic === true,
      reasoning: false,
      origin: 'settings',
      remote: t,
      note: `${model ? servedId(model) : t.model || 'The model it serves by default'} at ${t.baseUrl || 'this server'}.`,
    };
    if (model?.synthetic && mirrorsRealModel(model.mirrors)) entry.mirrors = model.mirrors;
    return entry;
  });
}

/**
 * The spectrum: local folders first (what this server holds), then Hub models by size, then the
 * remote tiers in their configured order. Duplicated keys keep the first.
 */
export function buildCatalog(
  builtin: readonly CatalogEntry[],
  server: readonly CatalogEntry[],
  remote: readonly CatalogEntry[],
): CatalogEntry[] {
  const byParams = (a: CatalogEntry, b: CatalogEntry) => (a.params ?? 0) - (b.params ?? 0);
  const seen = new Set<string>();
  const out: CatalogEntry[] = [];
  for (const e of [...[...server].sort(byParams), ...[...builtin].sort(byParams), ...remote]) {
    if (seen.has(e.key)) continue;
    seen.add(e.key);
    out.push(e);
  }
  return out;
}

/**
 * The entry a newcomer gets: the local folder that fits with the smallest memory estimate (a folder
 * of unknown architecture has no parameter count and sorts first in the catalog), else the smallest
 * Hub model that fits, else the first device entry.
 */
export function defaultSelection(
  catalog: readonly CatalogEntry[],
  budget: DeviceBudget,
  /** The CPU engine setting: it decides the dtype and the KV cache a load on WASM keeps. */
  runtime: CpuRuntimeChoice = 'auto',
): CatalogEntry | null {
  const device = catalog.filter((e) => e.runs === 'device');
  const assess = (e: CatalogEntry) => assessFit(e, preferredDtype(e, budget, runtime), budget, { runtime });
  const fits = (e: CatalogEntry) => assess(e).verdict === 'fits';
  const memory = (e: CatalogEntry) => assess(e).memoryBytes ?? Number.POSITIVE_INFINITY;
  const server = device
    .filter((e) => e.origin === 'server' && fits(e))
    .reduce<CatalogEntry | null>((best, e) => (best === null || memory(e) < memory(best) ? e : best), null);
  return server ?? device.find(fits) ?? device[0] ?? null;
}

/** The memory a first visit assumes when the browser does not report it: a low-end phone's. */
export const FIRST_VISIT_UNKNOWN_MEMORY_GIB = 2;

/**
 * The model a first visit starts with: the catalog's newcomer entry when it is a folder on this
 * server (nothing to fetch from the Hub, so loading it at once costs the visitor nothing) and it fits
 * this device (defaultSelection falls back to an entry that does not fit; a device that hides its
 * memory counts as a 2 GiB phone), else none: a Hub download or a model too big for the device waits
 * for the visitor's choice.
 */
export function firstVisitChoice(
  catalog: readonly CatalogEntry[],
  budget: DeviceBudget,
  runtime: CpuRuntimeChoice = 'auto',
): CatalogEntry | null {
  const entry = defaultSelection(catalog, withPhoneMemory(budget), runtime);
  if (entry?.origin !== 'server') return null;
  return loadsUnasked(entry, budget, runtime) ? entry : null;
}

/** Whether `entry` may be loaded without the visitor's choice: it fits this device (see firstVisitChoice). */
export function loadsUnasked(
  entry: CatalogEntry,
  budget: DeviceBudget,
  runtime: CpuRuntimeChoice = 'auto',
  /** The dtype the load would run (the app's dtypeFor: a cached file, the visitor's choice); absent: the planned one. */
  dtype?: Dtype,
): boolean {
  const assumed = withPhoneMemory(budget);
  const planned = dtype ?? preferredDtype(entry, assumed, runtime);
  return assessFit(entry, planned, assumed, { runtime }).verdict === 'fits';
}

/** Where the browser hides its memory (Safari, Firefox), a choice made for the visitor assumes a phone. */
function withPhoneMemory(budget: DeviceBudget): DeviceBudget {
  return budget.deviceMemoryGiB === null
    ? { ...budget, deviceMemoryGiB: FIRST_VISIT_UNKNOWN_MEMORY_GIB }
    : budget;
}

/** Costs below this are shown as "< $0.000001" (a millionth of a dollar: no price list goes finer). */
export const SMALLEST_SHOWN_USD = 0.000001;

/**
 * A cost as a person reads it: "free" only when it is exactly zero; under a dollar, two significant
 * digits ("$0.000042", "$0.0006", "$0.50"), never a row of zeros for a cost that is not zero; from
 * a dollar, cents ("$1,234.50"); "unknown" for what is no cost (negative, NaN, infinite).
 */
export function formatCostUsd(usd: number): string {
  if (!Number.isFinite(usd) || usd < 0) return 'unknown';
  if (usd === 0) return 'free';
  if (usd < SMALLEST_SHOWN_USD) return '< $0.000001';
  if (usd >= 1) {
    return `$${usd.toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  const decimals = Math.max(2, 1 - Math.floor(Math.log10(usd)));
  // Zeros after the second significant digit say nothing ("$0.00060" reads as "$0.0006").
  return `$${usd.toFixed(decimals).replace(/(\.\d{2}\d*?)0+$/, '$1')}`;
}

/** Estimated cost in US dollars of one exchange on a tier; on-device is free. */
export function estimateCostUsd(entry: CatalogEntry, promptTokens: number, outputTokens: number): number {
  if (!entry.remote) return 0;
  return (promptTokens * entry.remote.priceInPerMTok + outputTokens * entry.remote.priceOutPerMTok) / 1e6;
}
