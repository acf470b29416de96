/**
 * What the app plans and shows for a folder whose q4 edgetier's CPU engine refuses (a hostile
 * review's findings; each failed first on 299aa2e). Real parts
 * (harness.ts): AppState, SettingsStore, the server's real index over real folders, the engine's own
 * refusal check.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../../src/builder/hf-config.ts';
import { cpuEngineWillRun, estimateMemoryBytes } from '../../../src/core/catalog.ts';
import { generationDefaults } from '../../../src/cpu-engine/cpu-generator.ts';
import { modelFolder, SMALL_SPEC, startApp, WASM_ONLY } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-app-refusal-review-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const MB = 1_000_000;
const config = { ...specToHfConfig(SMALL_SPEC), edgetier: { synthetic: true } };

describe('a generation_config.json saved with a UTF-8 BOM', () => {
  it('the engine refuses it (num_beams), yet the app plans q4 for the engine and counts its int8 cache', async () => {
    const models = modelFolder(root, 'bomgen', config, ['q8', 'q4'], { bytes: { q8: 8 * MB, q4: 4 * MB } });
    const generation = { num_beams: 4, eos_token_id: 2 };
    // What the engine reads (workers/cpu-model.ts: TextDecoder, which drops the BOM, then JSON.parse).
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(generation))]);
    writeFileSync(join(models, 'bomgen', 'generation_config.json'), bytes);
    const read = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    expect(() => generationDefaults(read)).toThrow(/num_beams/);
    const { app } = await startApp(root, WASM_ONLY, {}, models);
    const entry = app.entry('local:bomgen')!;
    const plan = app.loadPlan(entry);
    const runs = plan.ortDtype ?? plan.dtype;
    // As for the same file without a BOM (engine-refusals.test.ts): ORT's q8, counted as ORT keeps it.
    expect({ dtype: plan.dtype, runs }).toEqual({ dtype: 'q8', runs: 'q8' });
    expect(cpuEngineWillRun(entry, app.dtypeFor(entry), 'wasm', 'auto', true)).toBe(false);
    expect(app.fit(entry).memoryBytes).toBe(estimateMemoryBytes(entry, runs, 'wasm'));
  });
});

describe("the Models view's speed after Bench measured a refused q4 (ORT ran q8)", () => {
  it('the figure Bench now records (dtype q8, ONNX Runtime) is shown for the model the chats load the same way', async () => {
    // A folder whose refusal only the load finds (as app-bench-refused-q4.test.ts's foreign q4
    // initializer): the app plans q4 for the engine and q8 on ORT on the refusal.
    const models = modelFolder(root, 'foreign', config, ['q8', 'q4'], { bytes: { q8: 8 * MB, q4: 4 * MB } });
    const { app } = await startApp(root, WASM_ONLY, {}, models);
    const entry = app.entry('local:foreign')!;
    expect(app.loadPlan(entry)).toMatchObject({ dtype: 'q4', ortDtype: 'q8' });
    // What bench-view.ts records after that run since 1fd5337 (the row's dtype: what ran; ort_build
    // not edgetier-wasm: no cpuEngine).
    app.recordBenchSpeed(entry.key, {
      decodeTokPerSec: 21.5,
      device: 'wasm',
      dtype: 'q8',
      threads: 2,
      tg: 4,
      refused: 'q4',
    });
    // The next chat load runs exactly what was measured (q4 refused, q8 on ORT); README: "a Bench
    // run on this device replaces it with its measurement".
    const speed = app.speed(entry);
    expect(speed).toMatchObject({ source: 'bench', decodeTokPerSec: 21.5 });
  });

  it("an ONNX Runtime q8 figure measured without a refusal (another CPU engine setting) is not shown for the engine's plan", async () => {
    const models = modelFolder(root, 'plain', config, ['q8', 'q4'], { bytes: { q8: 8 * MB, q4: 4 * MB } });
    const { app } = await startApp(root, WASM_ONLY, {}, models);
    const entry = app.entry('local:plain')!;
    app.recordBenchSpeed(entry.key, {
      decodeTokPerSec: 21.5,
      device: 'wasm',
      dtype: 'q8',
      threads: 2,
      tg: 4,
    });
    // Automatic runs the engine's q4 here: ORT's q8 speed is not its speed (and the plan has no q4 estimate).
    expect(app.speed(entry)).toBeNull();
  });
});
