/**
 * What the app assesses, shows and benches is what load() asks and what runs, under Settings and
 * where the CPU engine refuses a model (a hostile review's findings; each failed first on 98cd278). Real parts (harness.ts): the app's AppState and
 * SettingsStore, the server's real /models/index.json builder over real folders, NodeEngine as the
 * local engine, the real catalog, backend planner and CPU engine checks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchLoadRequest, plannedBenchConfig } from '../../../src/app/components/bench-view/bench-runner.ts';
import { specToHfConfig } from '../../../src/builder/hf-config.ts';
import { planBackends } from '../../../src/core/backend-plan.ts';
import {
  type CatalogEntry,
  type DeviceBudget,
  entriesFromServer,
  estimateMemoryBytes,
  kvElementFor,
  preferredDtypeWithCache,
  type ServerModelEntry,
} from '../../../src/core/catalog.ts';
import { ortDtypeAfterRefusal } from '../../../src/core/cpu-runtime-plan.ts';
import type { Dtype } from '../../../src/core/dtypes.ts';
import type { Engine } from '../../../src/core/engine.ts';
import type { ModelSpec } from '../../../src/core/model-spec.ts';
import { requireCpuDtype } from '../../../src/cpu-engine/decoder.ts';
import { cpuModelSpec } from '../../../src/cpu-engine/model-refusal.ts';
import { modelIndex } from '../../../src/server/model-index.ts';
import { TWO_CORE_CAPABILITIES } from '../../helpers/bench-fixtures.ts';
import { GPU_F16, modelFolder, SMALL_SPEC, startApp as start, WASM_ONLY } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-app-settings-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const smallSpec = SMALL_SPEC;
const folder = (
  name: string,
  config: Record<string, unknown>,
  dtypes: Dtype[],
  bytes: Partial<Record<Dtype, number>> = {},
) => modelFolder(root, name, config, dtypes, { bytes });
const startApp = async (budget: DeviceBudget, settings: Record<string, unknown>, modelsDir: string | null) =>
  (await start(root, budget, settings, modelsDir)).app;
const wasmOnly = WASM_ONLY;
const gpu = GPU_F16;

describe("the Models view's speed after Bench, where the CPU engine refuses the model and ONNX Runtime runs it", () => {
  it('a sliding-window folder (Gemma-3-like twin) on WASM: the Bench measurement is shown, not ignored', async () => {
    const spec: ModelSpec = {
      ...smallSpec,
      family: 'qwen3',
      qkNorm: true,
      slidingWindow: { size: 1024, layers: [false, true] },
    };
    const config = { ...specToHfConfig(spec), edgetier: { synthetic: true } };
    const models = folder('slidespeed', config, ['q8']);
    const app = await startApp(wasmOnly, {}, models);
    const entry = app.entry('local:slidespeed')!;
    expect(app.loadPlan(entry)).toMatchObject({ device: 'wasm', dtype: 'q8', runtime: 'auto' });
    // The CPU engine refuses the folder (unsupported_architecture, a CPU_ENGINE_REFUSALS code): ONNX
    // Runtime runs the chats and the Bench row alike (row.ort_build is ORT's build, not edgetier-wasm).
    expect(() => cpuModelSpec(config)).toThrow(/sliding attention window/);
    // So the card's memory counts ORT's float32 cache (kvElementFor knows the engine refuses it)...
    expect(kvElementFor(entry, 'q8', 'wasm', 'auto', true)).toBe('float32');
    // ...and bench-view.ts records the row as it ran: no cpuEngine flag (ORT ran).
    app.recordBenchSpeed(entry.key, { decodeTokPerSec: 42, device: 'wasm', dtype: 'q8', threads: 2, tg: 32 });
    // The Models view's "Speed here" must now be that measurement; speed() assumes the CPU engine
    // (planCpuRuntime alone: q8 on wasm under Automatic) and throws the measurement away.
    expect(app.speed(entry)?.source).toBe('bench');
  });

  it('a browser without WebAssembly SIMD: the engine refuses (no_wasm_simd), ORT runs q8, and the Bench figure is shown', async () => {
    const noSimd: DeviceBudget = { ...wasmOnly, wasmSimd: false };
    const app = await startApp(noSimd, {}, null);
    const entry = app.entry('onnx-community/SmolLM2-135M-Instruct-ONNX')!;
    expect(app.loadPlan(entry)).toMatchObject({ device: 'wasm', dtype: 'q8', runtime: 'auto' });
    app.recordBenchSpeed(entry.key, { decodeTokPerSec: 24, device: 'wasm', dtype: 'q8', threads: 2, tg: 32 });
    expect(app.speed(entry)?.source).toBe('bench');
  });
});

describe('fit() and deviceFor() agree under a forced WebGPU on a GPU without shader-f16', () => {
  it('an fp16 choice with Settings forcing WebGPU: the card does not say it runs on WASM', async () => {
    const noF16: DeviceBudget = { ...gpu, shaderF16: false };
    const app = await startApp(noF16, { backend: 'webgpu' }, null);
    const entry = app.state.catalog.find((e) => e.runs === 'device' && e.dtypes.includes('fp16'))!;
    app.setDtype(entry.key, 'fp16');
    // load() asks WebGPU (Settings force it); the Models card's "Runs" reads fit().device.
    expect(app.loadPlan(entry).device).toBe('webgpu');
    expect(app.fit(entry).device).toBe(app.loadPlan(entry).device);
  });
});

describe("the KV cache counted for a dtype the CPU engine does not run, under the 'edgetier' CPU engine setting", () => {
  it("fp16 on WASM with the CPU engine chosen: ORT runs it (unsupported_dtype) with the file's float16 cache", async () => {
    const config = { ...specToHfConfig(smallSpec), edgetier: { synthetic: true } };
    const models = folder('f16edge', config, ['fp16', 'q8', 'q4']);
    const app = await startApp(wasmOnly, { cpuEngine: 'edgetier' }, models);
    const entry = app.entry('local:f16edge')!;
    // The engine refuses fp16 by name; the worker falls back to ORT (fallbackToOrt), whose cache is the file's.
    expect(() => requireCpuDtype('fp16')).toThrow(/runs on ORT/);
    expect(kvElementFor(entry, 'fp16', 'wasm', 'onnxruntime', true)).toBe('float16');
    expect(kvElementFor(entry, 'fp16', 'wasm', 'edgetier', true)).toBe('float16');
    // What the Models card's Memory line shows: the same as under ONNX Runtime.
    app.setDtype(entry.key, 'fp16');
    const underEngine = app.fit(entry).memoryBytes;
    const ort = await startApp(wasmOnly, { cpuEngine: 'onnxruntime' }, models);
    ort.setDtype(entry.key, 'fp16');
    expect(underEngine).toBe(ort.fit(ort.entry('local:f16edge')!).memoryBytes);
  });
});

describe("Bench's ortDtype against before 98cd278 and the backend planner", () => {
  it("convert's fp32+q4 folder under Automatic: a refused q4 loads ORT's fp32 (the plan's ortDtype), not ORT's q4", async () => {
    const spec: ModelSpec = {
      ...smallSpec,
      family: 'qwen3',
      qkNorm: true,
      slidingWindow: { size: 1024, layers: [false, true] },
    };
    const config = { ...specToHfConfig(spec), edgetier: { synthetic: false } };
    const models = folder('fp32q4', config, ['fp32', 'q4']);
    const app = await startApp(wasmOnly, {}, models);
    const entry = app.entry('local:fp32q4')!;
    const caps = { ...TWO_CORE_CAPABILITIES, storage: null };
    const engine = {
      plan: async (_source: unknown, override?: Parameters<typeof planBackends>[2]) =>
        planBackends(caps, { dtypes: entry.dtypes, engineGraph: entry.engineGraph === true }, override),
    } as unknown as Engine;
    // The planner: q4 for the CPU engine, fp32 on ORT where the engine refuses it (never ORT's q4,
    // "which ORT decodes at about 1 tok/s", backend-plan.ts).
    const plan = await planBackends(caps, { dtypes: entry.dtypes, engineGraph: true });
    expect(plan.choices[0]).toMatchObject({ device: 'wasm', dtype: 'q4', ortDtype: 'fp32' });
    // Bench before 98cd278 (plannedBenchConfig, no override under Automatic) asked for that fp32.
    const before = await plannedBenchConfig(
      engine,
      entry,
      { device: 'wasm', dtype: 'q4' },
      undefined,
      'auto',
    );
    expect(before.ortDtype).toBe('fp32');
    // Bench now, as bench-view.ts run() builds its config, word for word.
    const load = app.loadPlan(entry);
    const planned = await plannedBenchConfig(
      engine,
      entry,
      { device: load.device, dtype: load.dtype },
      { device: load.device, dtype: load.dtype },
      load.runtime,
    );
    const config2 = { ...planned, ...(load.ortDtype ? { ortDtype: load.ortDtype } : {}) };
    // The engine refuses this folder (sliding window): ORT then loads config2.ortDtype ?? q4.
    expect(() => cpuModelSpec(config)).toThrow(/sliding attention window/);
    expect(config2.ortDtype).toBe('fp32');
  });
});

describe("Bench's load request against load()'s under the 'edgetier' CPU engine setting", () => {
  it("a q4 the chats take from the model cache under 'edgetier': Bench's request keeps ORT's q8 for a refusal, as load() sends it", async () => {
    const config = { ...specToHfConfig(smallSpec), edgetier: { synthetic: true } };
    const models = folder('edgecached', config, ['q8', 'q4']);
    const [entry] = entriesFromServer((await modelIndex([models])).models as ServerModelEntry[]) as [
      CatalogEntry,
    ];
    // AppState.dtypeFor under the 'edgetier' setting with only q4 whole in the model cache
    // (preferredDtypeWithCache: "under an explicit edgetier, Automatic's q4 is one"), not chosen in
    // this page: loadPlan's ortDtype is then ortDtypeAfterRefusal's q8, and load() sends it
    // (app-state.ts: `if (entry.runs === 'device' && plan.ortDtype) request.ortDtype = plan.ortDtype`),
    // which the worker honours under 'edgetier' with fallbackToOrt (worker-engine.ts loadNow).
    const dtype = preferredDtypeWithCache(entry, wasmOnly, 'edgetier', ['q4']);
    expect(dtype).toBe('q4');
    const ortDtype = ortDtypeAfterRefusal({ dtype, dtypes: entry.dtypes, chosenByUser: false });
    expect(ortDtype).toBe('q8');
    const load = { device: 'wasm' as const, dtype, runtime: 'edgetier' as const, ortDtype };
    // bench-view.ts run(): config = { ...planned, ortDtype: load.ortDtype, runtime: load.runtime }.
    const request = benchLoadRequest(entry.source!, { ...load, threads: 2 });
    expect(request.ortDtype).toBe('q8');
  });
});

describe('a sliding-window folder the app knows the CPU engine refuses: what the card counts against what loads', () => {
  it("Automatic plans q4 for it (autoPlansEngineQ4 ignores shape.slidingWindow), so the card counts q4's file while ORT loads q8", async () => {
    const spec: ModelSpec = {
      ...smallSpec,
      family: 'qwen3',
      qkNorm: true,
      slidingWindow: { size: 1024, layers: [false, true] },
    };
    const config = { ...specToHfConfig(spec), edgetier: { synthetic: true } };
    const MB = 1_000_000;
    const models = folder('slideplan', config, ['q8', 'q4'], { q8: 8 * MB, q4: 4 * MB });
    const app = await startApp(wasmOnly, {}, models);
    const entry = app.entry('local:slideplan')!;
    // The index says the window; kvElementFor already knows the engine refuses q4 here (float32, ORT's).
    expect(entry.shape?.slidingWindow).toBe(true);
    expect(kvElementFor(entry, 'q4', 'wasm', 'auto', true)).toBe('float32');
    expect(() => cpuModelSpec(config)).toThrow(/sliding attention window/);
    const plan = app.loadPlan(entry);
    // What runs: the engine refuses, ONNX Runtime loads plan.ortDtype ?? plan.dtype.
    const runs = plan.ortDtype ?? plan.dtype;
    expect(runs).toBe('q8');
    // The Models card's Memory (fit().memoryBytes) and Download (estimateDownloadBytes(dtypeFor)) are
    // q4's: 4 MB of weights counted where 8 MB load.
    expect(app.fit(entry).memoryBytes).toBe(estimateMemoryBytes(entry, runs, 'wasm'));
  });
});
