/**
 * Bench's figure measured after a refusal (ONNX Runtime's q8, after edgetier's CPU engine refused the
 * planned q4) against a load that is not refused (a hostile review's finding, failing first on
 * a621401). Real parts: a synthesized
 * folder (q8 and q4) whose q4 carries an initializer edgetier did not write (as
 * test/browser/app-bench-refused-q4.test.ts), the CPU engine's own Node loader (which refuses that q4
 * and runs the q8), the server's real index, AppState (harness.ts).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CPU_ENGINE_REFUSALS } from '../../../src/client/worker-engine.ts';
import { cpuEngineWillRun } from '../../../src/core/catalog.ts';
import { EdgetierError } from '../../../src/core/errors.ts';
import { loadCpuModelSession } from '../../../src/cpu-engine/node-session.ts';
import { refusedQ4Folder } from '../../helpers/foreign-initializer.ts';
import { startApp, WASM_ONLY } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-after-refusal-pinned-'));
const models = join(root, 'models');
const folder = join(models, 'foreignq4');
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  mkdirSync(models, { recursive: true });
  // The q4 gets an initializer named as a foreign exporter names them: the engine refuses that file
  // only (its q8 is untouched).
  await refusedQ4Folder(folder);
}, 120_000);

/** The CPU engine's own load of `dtype`: 'ran', or the code it refused with. */
async function engineLoad(dtype: 'q8' | 'q4'): Promise<string> {
  try {
    const session = await loadCpuModelSession({ model: folder, dtype });
    await session.dispose();
    return 'ran';
  } catch (error) {
    return error instanceof EdgetierError ? error.code : `not an EdgetierError: ${String(error)}`;
  }
}

describe("Bench's after-refusal figure once the visitor pins the q8 (the engine runs it: no refusal)", () => {
  it("the engine refuses the q4 and runs the q8; after Bench's refused-q4 run, a pinned q8 (the engine's) is shown ORT's after-refusal figure", async () => {
    // The engine, for real: the q4 is refused (a refusal ORT takes over from), the q8 runs.
    const q4 = await engineLoad('q4');
    expect(CPU_ENGINE_REFUSALS.has(q4 as never)).toBe(true);
    expect(await engineLoad('q8')).toBe('ran');

    const { app } = await startApp(root, WASM_ONLY, {}, models);
    const entry = app.entry('local:foreignq4')!;
    expect(app.loadPlan(entry)).toMatchObject({ dtype: 'q4', ortDtype: 'q8', runtime: 'auto' });
    // What bench-view.ts records after that run (the row: dtype q8, ort_build jspi; the app would ask
    // the engine for its q4, which it refused).
    app.recordBenchSpeed(entry.key, {
      decodeTokPerSec: 21.5,
      device: 'wasm',
      dtype: 'q8',
      threads: 2,
      tg: 4,
      refused: 'q4',
    });
    expect(app.speed(entry)).toMatchObject({ source: 'bench', decodeTokPerSec: 21.5 });

    // The visitor then picks q8 on the Models view: the chats' load asks the engine for q8
    // ('auto' runs q8 on the engine), which it runs (above): no refusal, and no ONNX Runtime.
    app.setDtype(entry.key, 'q8');
    const plan = app.loadPlan(entry);
    expect(plan).toEqual({ device: 'wasm', dtype: 'q8', runtime: 'auto' });
    expect(cpuEngineWillRun(entry, plan.dtype, 'wasm', plan.runtime, true)).toBe(true);
    // A plain ONNX Runtime q8 figure is (rightly) not shown for the engine's q8 ...
    const speed = app.speed(entry);
    // ... nor is the after-refusal one: this load never meets the q4's refusal.
    expect(
      speed?.source === 'bench'
        ? `${speed.decodeTokPerSec} tok/s: ${speed.basis}`
        : 'not the after-refusal figure',
    ).toBe('not the after-refusal figure');
  }, 120_000);
});
