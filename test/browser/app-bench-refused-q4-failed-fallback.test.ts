/**
 * Bench where edgetier's CPU engine refuses the planned q4 and ONNX Runtime's load of ortDtype (q8)
 * then fails (a hostile review's finding, failing first on 299aa2e). The row's
 * dtype must be the file whose load failed, not the q4 the engine refused. Real Chromium, the real
 * app built and served by `edgetier serve`, the real engine worker.
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
  // As app-bench-refused-q4.test.ts: a q4 the engine refuses (a foreign initializer name), and a q8
  // file ONNX Runtime cannot read (not a model at all).
  const folder = join(modelsDir, 'refusedbroken');
  await refusedQ4Folder(folder, { brokenQ8: true });
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
  app: { entry(key: string): unknown; loadPlan(entry: unknown): { dtype: string; ortDtype?: string } };
}

describe("Bench where the engine refuses the planned q4 and ORT's q8 load then fails", () => {
  it('the error row names the dtype whose load failed (q8), not the refused q4', async () => {
    await page.goto(`${serve.url}#bench`);
    // The catalog lists the server's folders once /models/index.json has answered.
    await page
      .getByRole('combobox', { name: 'Model to benchmark' })
      .locator('option[value="local:refusedbroken"]')
      .waitFor({ state: 'attached', timeout: 60_000 });
    const app = page.locator('et-app');
    const plan = await app.evaluate((el) => {
      const { app } = el as unknown as AppLike;
      return app.loadPlan(app.entry('local:refusedbroken'));
    });
    expect(plan).toMatchObject({ dtype: 'q4', ortDtype: 'q8' });
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:refusedbroken');
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
    // The load failed: ONNX Runtime could not read the q8 file it was given after the refusal.
    expect(row.error).not.toBeNull();
    // Seen on 299aa2e: dtype "q4", ort_build "jspi", note null, error weights_corrupt "The model file is
    // damaged or truncated (... protobuf parsing failed.). Delete the cached copy ...": the q4 is blamed.
    expect(row.dtype).toBe('q8');
  }, 300_000);
});
