/**
 * The load plan (AppState.loadPlan, cpuEngineWillRun) against what the worker and the backend
 * planner do, where the CPU engine refuses a model or a fallback does not fit (a hostile review's
 * findings; each failed first on 49c63c9). Real parts, as in
 * app-fit-load-plan.test.ts: the app's AppState and SettingsStore, the server's real
 * /models/index.json builder over real folders (sparse files where a size matters), NodeEngine as the
 * local engine, the real catalog, backend planner and the CPU engine's own refusals.
 */
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SettingsStore } from '../../src/app/state/settings-store.ts';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { planBackends } from '../../src/core/backend-plan.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';
import {
  type CatalogEntry,
  cpuEngineWillRun,
  type DeviceBudget,
  estimateMemoryBytes,
  type ServerModelEntry,
} from '../../src/core/catalog.ts';
import { DTYPE_FILE, type Dtype } from '../../src/core/dtypes.ts';
import type { CpuRuntimeChoice } from '../../src/core/engine.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { generationDefaults } from '../../src/cpu-engine/cpu-generator.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { modelIndex } from '../../src/server/model-index.ts';
import { TWO_CORE_CAPABILITIES } from '../helpers/bench-fixtures.ts';

/** The app's AppState (the page realm's file, imported by a path tsc does not follow): the methods used. */
interface App extends EventTarget {
  state: { status: string; selectedKey: string | null; catalog: CatalogEntry[] };
  budget: DeviceBudget;
  init(): Promise<void>;
  entry(key: string): CatalogEntry | undefined;
  dtypeFor(entry: CatalogEntry): Dtype;
  fit(
    entry: CatalogEntry,
    dtype?: Dtype,
  ): { verdict: string; device: string; reason: string; memoryBytes: number | null };
  loadPlan(entry: CatalogEntry): {
    device: 'webgpu' | 'wasm';
    dtype: Dtype;
    runtime: CpuRuntimeChoice;
    ortDtype?: Dtype;
  };
}
const APP_STATE = '../../src/app/state/app-state.ts';
const { AppState } = (await import(/* @vite-ignore */ APP_STATE)) as {
  AppState: new (services: unknown, settings: SettingsStore, storage: Storage) => App;
};

const root = mkdtempSync(join(tmpdir(), 'edgetier-review-mem3-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  key(index: number) {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

const smallSpec: ModelSpec = {
  family: 'llama',
  vocabSize: 300,
  hiddenSize: 256,
  intermediateSize: 128,
  numLayers: 2,
  numHeads: 8,
  numKvHeads: 2,
  headDim: 32,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  maxPositionEmbeddings: 8192,
  tieWordEmbeddings: true,
  attentionBias: false,
  qkNorm: false,
};

/**
 * A server folder as `edgetier serve` lists it: config.json, optional generation_config.json, and ONNX
 * files of `dtypes`, each `bytes[d]` long (sparse: the index reads only the size and the hash).
 */
function folder(
  name: string,
  config: Record<string, unknown>,
  dtypes: Dtype[],
  bytes: Partial<Record<Dtype, number>> = {},
  generationConfig?: Record<string, unknown>,
): string {
  const models = join(root, name, 'models');
  mkdirSync(join(models, name, 'onnx'), { recursive: true });
  writeFileSync(join(models, name, 'config.json'), JSON.stringify(config));
  if (generationConfig) {
    writeFileSync(join(models, name, 'generation_config.json'), JSON.stringify(generationConfig));
  }
  for (const d of dtypes) {
    const fd = openSync(join(models, name, 'onnx', DTYPE_FILE[d]), 'w');
    ftruncateSync(fd, bytes[d] ?? 16);
    closeSync(fd);
  }
  return models;
}

async function startApp(budget: DeviceBudget, settings: Record<string, unknown>, modelsDir: string | null) {
  const storage = new MemoryStorage();
  new SettingsStore(storage).update(settings);
  const empty = mkdtempSync(join(root, 'cache-'));
  const app = new AppState(
    {
      createLocalEngine: () => new NodeEngine({ modelsDir: empty }),
      createRemoteEngine: () => {
        throw new Error('no remote tier is used here');
      },
      detectBudget: async () => budget,
      fetchServerModels: async () =>
        modelsDir ? ((await modelIndex([modelsDir])).models as ServerModelEntry[]) : [],
      remoteRequestBytes: () => 0,
    },
    new SettingsStore(storage),
    storage,
  );
  await app.init();
  return app;
}

const wasmOnly: DeviceBudget = {
  webgpu: false,
  shaderF16: false,
  deviceMemoryGiB: 8,
  maxBufferBytes: null,
  wasm: { build: 'jspi', threads: 2 },
  wasmSimd: true,
};
const MB = 1_000_000;

describe("loadPlan's ORT dtype after a refusal, on a device where q8 does not fit", () => {
  it('a low-memory phone (0.5 GiB): the q4 the CPU engine was planned for fits, q8 is too big, yet a refusal loads q8', async () => {
    const phone: DeviceBudget = { ...wasmOnly, deviceMemoryGiB: 0.5 };
    const config = { ...specToHfConfig(smallSpec), edgetier: { synthetic: true } };
    const models = folder('phoneq8', config, ['q8', 'q4'], { q8: 400 * MB, q4: 40 * MB });
    const app = await startApp(phone, {}, models);
    const entry = app.entry('local:phoneq8')!;
    // The chats load q4 (planned for the engine), and the app says it fits here.
    expect(app.dtypeFor(entry)).toBe('q4');
    expect(app.fit(entry).verdict).toBe('fits');
    // The app's own fit: q8 is too big on this phone.
    expect(app.fit(entry, 'q8').verdict).toBe('too-big');
    // The backend planner (the worker's loadAuto) keeps no ORT dtype that does not fit: q8 was skipped.
    const caps: Capabilities = { ...TWO_CORE_CAPABILITIES, deviceMemoryGiB: 0.5, storage: null };
    const plan = planBackends(caps, {
      dtypes: entry.dtypes,
      bytesByDtype: { q8: 400 * MB, q4: 40 * MB },
      engineGraph: true,
    });
    expect(plan.choices[0]).toMatchObject({ device: 'wasm', dtype: 'q4' });
    const plannerOrt = plan.choices[0]!.ortDtype;
    // load() sends loadPlan's ortDtype; on any refusal of q4 the worker loads it on ORT (loadNow).
    // "fp32 where it fits" is checked (#ortFits), q8 is not: ORT is asked for a file the app calls too big.
    const ortDtype = app.loadPlan(entry).ortDtype;
    expect(ortDtype).toBe(plannerOrt);
    if (ortDtype) expect(app.fit(entry, ortDtype).verdict).not.toBe('too-big');
  });
});

describe('cpuEngineWillRun against the refusals the CPU engine makes at load time', () => {
  it("a folder edgetier wrote whose generation_config.json sets no_repeat_ngram_size: the engine refuses it, the card counts the engine's q4 and int8 cache", async () => {
    const config = { ...specToHfConfig(smallSpec), edgetier: { synthetic: true } };
    const generation = { no_repeat_ngram_size: 3, eos_token_id: 2 };
    // The engine's own check (cpu-generator.ts cpuModelSession): this folder is refused by name, and
    // the worker then loads ORT's q8 (ortDtypeAfterRefusal), with ORT's float32 cache.
    expect(() => generationDefaults(generation)).toThrow(/no_repeat_ngram_size/);
    const models = folder('ngram', config, ['q8', 'q4'], { q8: 8 * MB, q4: 4 * MB }, generation);
    const app = await startApp(wasmOnly, {}, models);
    const entry = app.entry('local:ngram')!;
    const plan = app.loadPlan(entry);
    // What runs after the refusal: ORT, on plan.ortDtype ?? plan.dtype.
    const runs = plan.ortDtype ?? plan.dtype;
    expect(runs).toBe('q8');
    // The app's one rule says the engine runs it, so the card's Memory counts q4 with an int8 cache.
    expect(cpuEngineWillRun(entry, app.dtypeFor(entry), 'wasm', 'auto', true)).toBe(false);
    expect(app.fit(entry).memoryBytes).toBe(estimateMemoryBytes(entry, runs, 'wasm'));
  });
});
