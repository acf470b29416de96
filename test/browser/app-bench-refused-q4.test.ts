/**
 * Bench on a folder whose planned q4 edgetier's CPU engine refuses at load time (a review's finding,
 * failing on 49c63c9). Bench loads AppState.loadPlan's request, ortDtype included, so ONNX Runtime
 * runs the folder's q8 file; the row, and the figure the Models view is given, must say what ran.
 * Real Chromium, the real app built and served by `edgetier serve`, the real engine worker.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../src/core/bench/schema.ts';
import { refusedQ4Folder } from '../helpers/foreign-initializer.ts';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = synthTinyModels();
  // q8 and q4 files that edgetier wrote (config.json keeps its block: Automatic plans q4 for the
  // engine); the q4 file carries an initializer another exporter would name, which ORT accepts and
  // the engine refuses (as cpu-engine-auto.test.ts's foreign-q4).
  const folder = join(modelsDir, 'refusedq4');
  await refusedQ4Folder(folder);
  serve = await startServe(['--app', app, '--models', modelsDir, '--no-tier', '--quiet']);
  browser = await launchChromium();
  page = browser.page;
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

interface AppLike {
  app: {
    state: { benchSpeeds: Record<string, { dtype: string; cpuEngine?: boolean }> };
    dtypeFor(entry: unknown): string;
    entry(key: string): unknown;
    loadPlan(entry: unknown): { dtype: string; ortDtype?: string };
    speed(entry: unknown): { source: string; decodeTokPerSec: number; basis: string } | null;
  };
}

describe('Bench where the CPU engine refuses the planned q4 and ONNX Runtime runs ortDtype', () => {
  it('labels the row, and records the Models view figure, with the dtype that ran (q8), not the planned q4', async () => {
    await page.goto(`${serve.url}#bench`);
    // The catalog lists the server's folders once /models/index.json has answered.
    await page
      .getByRole('combobox', { name: 'Model to benchmark' })
      .locator('option[value="local:refusedq4"]')
      .waitFor({ state: 'attached', timeout: 60_000 });
    const app = page.locator('et-app');
    const plan = await app.evaluate((el) => {
      const { app } = el as unknown as AppLike;
      return app.loadPlan(app.entry('local:refusedq4'));
    });
    // What the chats and Bench load: q4 for the engine, q8 on ORT on a refusal.
    expect(plan).toMatchObject({ dtype: 'q4', ortDtype: 'q8' });
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:refusedq4');
    await page.getByLabel('Prompt tokens (pp)').fill('8');
    await page.getByLabel('Generated tokens (tg)').fill('4');
    await page.getByLabel('Repetitions').fill('1');
    await page.getByLabel('Warm-up runs').fill('0');
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor({ timeout: 180_000 });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      results.getByRole('button', { name: 'Download JSON' }).click(),
    ]);
    const report = JSON.parse(readFileSync((await download.path())!, 'utf8')) as BenchReport;
    const row = report.rows[0]!;
    expect(row.error).toBeNull();
    // ORT ran it, after the engine's refusal, on its q8 file (the row's own note says so).
    expect(row.ort_build).not.toBe('edgetier-wasm');
    expect(row.note).toContain('on its q8 file (q4 was planned for the CPU engine)');
    // The row's dtype column and the figure kept for the Models view must be q8's, what ran.
    const recorded = await app.evaluate(
      (el) => (el as unknown as AppLike).app.state.benchSpeeds['local:refusedq4'],
    );
    expect({ row: row.dtype, recorded: recorded?.dtype }).toEqual({ row: 'q8', recorded: 'q8' });
    // And the Models view shows it: the chats' next load is refused the same way and runs that q8.
    const speed = await app.evaluate((el) => {
      const { app } = el as unknown as AppLike;
      return app.speed(app.entry('local:refusedq4'));
    });
    expect(speed).toMatchObject({ source: 'bench', decodeTokPerSec: row.tg_tok_s!.mean });
    expect(speed?.basis).toContain("ONNX Runtime after edgetier's CPU engine refused the q4 file");
  }, 300_000);
});
