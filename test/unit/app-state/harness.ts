/**
 * The app's state (AppState, the page realm's) driven from Node with real parts: the real
 * SettingsStore over a Storage-shaped map, the server's real /models/index.json builder over real
 * folders (sparse ONNX files where a size matters: the index reads sizes and hashes only), NodeEngine
 * as the local engine (an empty model cache), and a budget as detectBudget reports the device
 * described. These tests compile with both realms' types (tsconfig.app-tests.json).
 */
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppState } from '../../../src/app/state/app-state.ts';
import { SettingsStore } from '../../../src/app/state/settings-store.ts';
import type { DeviceBudget, ServerModelEntry } from '../../../src/core/catalog.ts';
import { DTYPE_FILE, type Dtype } from '../../../src/core/dtypes.ts';
import type { ModelSpec } from '../../../src/core/model-spec.ts';
import { NodeEngine } from '../../../src/native/node-engine.ts';
import { modelIndex } from '../../../src/server/model-index.ts';
import { MemoryStorage } from '../../helpers/memory-storage.ts';

/** A small llama: a cache the kernels can hold in int8 (head size 32), weights of no account. */
export const SMALL_SPEC: ModelSpec = {
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
 * A llama whose KV cache dominates: 32 layers x 32 kv heads x 128 = 4 GiB of float32 cache at the
 * estimate's 4096 tokens (over WASM's limit), 1.1 GB as the CPU engine's int8, 2 GiB as fp16.
 */
export const BIG_CACHE_SPEC: ModelSpec = {
  ...SMALL_SPEC,
  hiddenSize: 4096,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 32,
  headDim: 128,
};

export const WASM_ONLY: DeviceBudget = {
  webgpu: false,
  shaderF16: false,
  deviceMemoryGiB: 8,
  maxBufferBytes: null,
  wasm: { build: 'jspi', threads: 2 },
  wasmSimd: true,
};
export const GPU_F16: DeviceBudget = { ...WASM_ONLY, webgpu: true, shaderF16: true, maxBufferBytes: 2 ** 31 };

/**
 * A server folder `name` under `root` as `edgetier serve` lists it: config.json, an optional
 * generation_config.json, and ONNX files of `dtypes`, each `bytes[d]` long (16 by default, sparse).
 * Returns the models directory to index.
 */
export function modelFolder(
  root: string,
  name: string,
  config: Record<string, unknown>,
  dtypes: Dtype[],
  options: { bytes?: Partial<Record<Dtype, number>>; generationConfig?: Record<string, unknown> } = {},
): string {
  const models = join(root, name, 'models');
  mkdirSync(join(models, name, 'onnx'), { recursive: true });
  writeFileSync(join(models, name, 'config.json'), JSON.stringify(config));
  if (options.generationConfig) {
    writeFileSync(join(models, name, 'generation_config.json'), JSON.stringify(options.generationConfig));
  }
  for (const d of dtypes) {
    const fd = openSync(join(models, name, 'onnx', DTYPE_FILE[d]), 'w');
    ftruncateSync(fd, options.bytes?.[d] ?? 16);
    closeSync(fd);
  }
  return models;
}

/**
 * The app as main.ts wires it, on a device with `budget`, Settings as the visitor saved them, the
 * server's real index of `modelsDir` (none: no folders); `loads` lists the models it starts loading,
 * in order.
 */
export async function startApp(
  root: string,
  budget: DeviceBudget,
  settings: Record<string, unknown>,
  modelsDir: string | null,
): Promise<{ app: AppState; loads: string[] }> {
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
  const loads: string[] = [];
  app.addEventListener('change', () => {
    const { status, selectedKey } = app.state;
    if (status === 'loading' && selectedKey && loads.at(-1) !== selectedKey) loads.push(selectedKey);
  });
  await app.init();
  return { app, loads };
}
