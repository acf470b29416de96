/**
 * The app's fit, first-visit choice and Bench under Settings (forced backend, CPU engine) and the
 * memory estimate's KV cache: each test below was a reviewer's finding, failing first. Real parts
 * (harness.ts): the app's AppState and SettingsStore, the server's real /models/index.json builder over real folders,
 * NodeEngine as the local engine (an empty models folder), the real catalog and the CPU engine's own
 * config check. A budget is what detectBudget reports on the machine described (Node has no GPU).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plannedBenchConfig } from '../../../src/app/components/bench-view/bench-runner.ts';
import { specToHfConfig } from '../../../src/builder/hf-config.ts';
import { planBackends } from '../../../src/core/backend-plan.ts';
import type { Capabilities } from '../../../src/core/capabilities.ts';
import {
  assessFit,
  type CatalogEntry,
  type DeviceBudget,
  entriesFromServer,
  kvElementFor,
  type ServerModelEntry,
} from '../../../src/core/catalog.ts';
import { DTYPE_FILE, type Dtype } from '../../../src/core/dtypes.ts';
import type { Engine } from '../../../src/core/engine.ts';
import type { ModelSpec } from '../../../src/core/model-spec.ts';
import { cpuModelSpec } from '../../../src/cpu-engine/model-refusal.ts';
import { modelIndex } from '../../../src/server/model-index.ts';
import { TWO_CORE_CAPABILITIES } from '../../helpers/bench-fixtures.ts';
import { BIG_CACHE_SPEC, GPU_F16, modelFolder, startApp as start, WASM_ONLY } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-app-fit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bigCacheSpec = BIG_CACHE_SPEC;
const folder = (name: string, config: Record<string, unknown>, dtypes: Dtype[]) =>
  modelFolder(root, name, config, dtypes);
const startApp = (budget: DeviceBudget, settings: Record<string, unknown>, modelsDir: string | null) =>
  start(root, budget, settings, modelsDir);
const wasmOnly = WASM_ONLY;
const gpu = GPU_F16;

describe("a first visit loads only what fit() says fits, under Settings' CPU engine and forced backend", () => {
  it('CPU engine set to ONNX Runtime: a first visit does not load a q4/q8 folder that the app itself says is too big for WASM', async () => {
    const models = folder('ortbig', { ...specToHfConfig(bigCacheSpec), edgetier: { synthetic: true } }, [
      'q8',
      'q4',
    ]);
    const { app, loads } = await startApp(wasmOnly, { cpuEngine: 'onnxruntime' }, models);
    const entry = app.entry('local:ortbig')!;
    // What the visitor's loads run: ONNX Runtime's q8 with its float32 cache, over WASM's 4 GiB.
    expect(app.dtypeFor(entry)).toBe('q8');
    expect(app.fit(entry).verdict).toBe('too-big');
    // So the start-up must not load it unasked (it did not before 155de2c: q4 with a float32 cache was
    // too big too); loadsUnasked now counts the CPU engine's int8 cache of a q4 ORT never loads.
    expect(loads).toEqual([]);
  });

  it('Settings forced to WASM on a GPU machine: a first visit does not load a folder fit() calls too big for WASM', async () => {
    const models = folder('gpubig', specToHfConfig(bigCacheSpec), ['q8']);
    const { app, loads } = await startApp(gpu, { backend: 'wasm' }, models);
    const entry = app.entry('local:gpubig')!;
    expect(app.deviceFor(entry)).toBe('wasm');
    expect(app.fit(entry).verdict).toBe('too-big');
    // loadsUnasked/firstVisitChoice assess the GPU (fp16 cache, no 4 GiB limit) with the raw budget.
    expect(loads).toEqual([]);
  });
});

describe('fit() and deviceFor() agree under a forced WebGPU backend', () => {
  it('Settings forced to WebGPU on a machine without it: fit() assesses the device the load asks for', async () => {
    const { app } = await startApp(wasmOnly, { backend: 'webgpu' }, null);
    const entry = app.state.catalog.find((e) => e.runs === 'device')!;
    // load() asks for WebGPU (deviceFor); the Models view's "Runs", fit line, memory and speed read fit().
    expect(app.deviceFor(entry)).toBe('webgpu');
    expect(app.fit(entry).device).toBe(app.deviceFor(entry));
  });
});

describe('the fit line under a forced WASM backend', () => {
  it('on a GPU with shader-f16, forced to WASM, an fp16 choice is not told the GPU lacks shader-f16', async () => {
    const { app } = await startApp(gpu, { backend: 'wasm' }, null);
    const entry = app.state.catalog.find((e) => e.runs === 'device' && e.dtypes.includes('fp16'))!;
    app.setDtype(entry.key, 'fp16');
    const fit = app.fit(entry);
    // This device's GPU has shader-f16; what stops fp16 is Settings' forced WASM.
    expect(app.budget.shaderF16).toBe(true);
    expect(fit.reason).not.toContain('needs a GPU with shader-f16');
  });
});

describe("no int8 cache counted for a q4 folder the CPU engine refuses (ORT's float32 runs it)", () => {
  it('a Qwen3 folder with a sliding window: the engine refuses it, so the estimate must not count an int8 cache', async () => {
    const spec: ModelSpec = {
      ...bigCacheSpec,
      family: 'qwen3',
      qkNorm: true,
      numLayers: 4,
      slidingWindow: { size: 1024, layers: [false, true, false, true] },
    };
    const config = { ...specToHfConfig(spec), edgetier: { synthetic: true } };
    const models = folder('slide', config, ['q8', 'q4']);
    const [entry] = entriesFromServer((await modelIndex([models])).models as ServerModelEntry[]) as [
      CatalogEntry,
    ];
    // The CPU engine's own first check refuses the folder (unsupported_architecture: a refusal
    // CPU_ENGINE_REFUSALS hands to ONNX Runtime, whose cache is float32, on q8).
    expect(() => cpuModelSpec(config)).toThrow(/sliding attention window/);
    expect(entry.engineGraph).toBe(true);
    expect(kvElementFor(entry, 'q4', 'wasm', 'auto', true)).toBe('float32');
    expect(assessFit(entry, 'q4', wasmOnly).memoryBytes).toBe(
      assessFit(entry, 'q4', wasmOnly, { runtime: 'onnxruntime' }).memoryBytes,
    );
  });
});

describe("kvElementFor against the cache ORT really keeps (the graph's past_key_values type)", () => {
  it("q4 on WebGPU keeps the graph's float32 cache, fp16 on WASM its float16 cache (transformers.js allocates by the session's input metadata)", async () => {
    const { synthPreset } = await import('../../../src/builder/synth.ts');
    const ort = await import('onnxruntime-node');
    const models = join(root, 'graphs');
    await synthPreset('tiny', join(models, 'tiny'), { dtypes: ['q4', 'fp16'], seed: 7 });
    const [entry] = entriesFromServer((await modelIndex([models])).models as ServerModelEntry[]) as [
      CatalogEntry,
    ];
    /** The element type of the cache a load of `dtype` keeps: the graph's first past key input. */
    const graphCache = async (dtype: Dtype) => {
      const session = await ort.InferenceSession.create(join(models, 'tiny', 'onnx', DTYPE_FILE[dtype]));
      const meta = session.inputMetadata.find((m) => m.name.startsWith('past_key_values'));
      await session.release();
      return meta && 'type' in meta ? meta.type : undefined;
    };
    const seen = {
      q4OnWebgpu: kvElementFor(entry, 'q4', 'webgpu', 'auto', true),
      fp16OnWasm: kvElementFor(entry, 'fp16', 'wasm', 'auto', true),
    };
    expect(seen).toEqual({ q4OnWebgpu: await graphCache('q4'), fp16OnWasm: await graphCache('fp16') });
  });
});

describe('Bench measures what the chats load (bench-view.ts, AppState.loadPlan)', () => {
  it('on a GPU without shader-f16, Bench plans the dtype the chats load, not WebGPU q4 against their q8', async () => {
    // The device as the worker reports it, and the budget main.ts derives from it.
    const caps: Capabilities = {
      ...TWO_CORE_CAPABILITIES,
      storage: null,
      webgpu: {
        vendor: 'v',
        architecture: 'a',
        description: 'd',
        isFallbackAdapter: false,
        shaderF16: false,
        maxBufferSizeBytes: 2 ** 31,
        maxStorageBufferBindingSizeBytes: 2 ** 30,
      },
    };
    const budget: DeviceBudget = { ...gpu, shaderF16: false, deviceMemoryGiB: caps.deviceMemoryGiB };
    const spec = { ...bigCacheSpec, numLayers: 2, numKvHeads: 2, hiddenSize: 256, headDim: 32, numHeads: 8 };
    const models = folder('nof16', { ...specToHfConfig(spec), edgetier: { synthetic: true } }, ['q8', 'q4']);
    const { app } = await startApp(budget, {}, models);
    const entry = app.entry('local:nof16')!;
    const chats = { device: app.deviceFor(entry), dtype: app.dtypeFor(entry) };
    // The worker's plan: the real planner on this device, for this folder.
    const engine = {
      plan: async (_source: unknown, override?: Parameters<typeof planBackends>[2]) =>
        planBackends(caps, { dtypes: entry.dtypes, engineGraph: entry.engineGraph === true }, override),
    } as unknown as Engine;
    // What bench-view.ts run() asks, word for word.
    const load = app.loadPlan(entry);
    const planned = await plannedBenchConfig(
      engine,
      entry,
      { device: load.device, dtype: load.dtype },
      { device: load.device, dtype: load.dtype },
      load.runtime,
    );
    expect({ device: planned.device, dtype: planned.dtype }).toEqual(chats);
  });
});
