/**
 * The load plan (AppState.loadPlan, cpuEngineWillRun) against what the worker and the backend
 * planner do, where the CPU engine refuses a model or a fallback does not fit (a hostile review's
 * findings; each failed first on 49c63c9). Real parts (harness.ts): the app's AppState and
 * SettingsStore, the server's real /models/index.json builder over real folders (sparse files where a
 * size matters), NodeEngine as the local engine, the real catalog, backend planner and the CPU
 * engine's own refusals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../../src/builder/hf-config.ts';
import { planBackends } from '../../../src/core/backend-plan.ts';
import type { Capabilities } from '../../../src/core/capabilities.ts';
import { cpuEngineWillRun, type DeviceBudget, estimateMemoryBytes } from '../../../src/core/catalog.ts';
import type { Dtype } from '../../../src/core/dtypes.ts';
import { generationDefaults } from '../../../src/cpu-engine/cpu-generator.ts';
import { TWO_CORE_CAPABILITIES } from '../../helpers/bench-fixtures.ts';
import { modelFolder, SMALL_SPEC, startApp as start, WASM_ONLY } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-app-refusals-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const smallSpec = SMALL_SPEC;
const folder = (
  name: string,
  config: Record<string, unknown>,
  dtypes: Dtype[],
  bytes: Partial<Record<Dtype, number>> = {},
  generationConfig?: Record<string, unknown>,
) => modelFolder(root, name, config, dtypes, { bytes, ...(generationConfig ? { generationConfig } : {}) });
const startApp = async (budget: DeviceBudget, settings: Record<string, unknown>, modelsDir: string | null) =>
  (await start(root, budget, settings, modelsDir)).app;
const wasmOnly = WASM_ONLY;
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
