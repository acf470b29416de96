/**
 * The app's Bench view in real Chromium against the real `edgetier serve`: a visitor runs the
 * benchmark on the tiny model through the page's WorkerEngine, sees the table, and downloads the
 * same JSON (edgetier-bench/1) the CLI writes. Never asserts a speed.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthPreset } from '../../src/builder/synth.ts';
import { DEFAULT_ROW_BUDGET_S, rowBudgetNote } from '../../src/core/bench/method.ts';
import { type BenchReport, validateBenchReport } from '../../src/core/bench/schema.ts';
import {
  axeViolations,
  buildApp,
  launchChromium,
  type ServeProcess,
  serious,
  startServe,
  synthTinyModels,
} from './app-fixture.ts';

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = synthTinyModels();
  // A q8 model: what runtime 'auto' runs on edgetier's CPU engine.
  await synthPreset('tiny', join(modelsDir, 'tiny-q8'), { dtypes: ['q8'], seed: 3 });
  serve = await startServe(['--app', app, '--models', modelsDir, '--quiet']);
  browser = await launchChromium();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

describe('Bench view', () => {
  it('runs the benchmark on this device and downloads the same JSON as the CLI', async () => {
    await page.goto(`${serve.url}#bench`);
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:tiny');
    await page.getByLabel('Prompt tokens (pp)').fill('8');
    await page.getByLabel('Generated tokens (tg)').fill('4');
    await page.getByLabel('Repetitions').fill('2');
    await page.getByLabel('Warm-up runs').fill('0');
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor({ timeout: 120_000 });
    await expect(results.getByRole('columnheader', { name: 'pp8 tok/s' }).count()).resolves.toBe(1);
    // The caption states the runs really counted and whether the first load was a cold one.
    const captionText = ((await results.locator('caption').textContent()) ?? '').replace(/\s+/g, ' ').trim();
    expect(captionText).toMatch(
      /^Mean ± standard deviation over 2 runs, after 0 warm-up run\(s\) not counted\. (Both loads read the model from the browser cache\.|The first load downloaded the model\.)$/,
    );
    await expect(results.getByRole('columnheader', { name: 'Load first / second ms' }).count()).resolves.toBe(
      1,
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      results.getByRole('button', { name: 'Download JSON' }).click(),
    ]);
    const report = JSON.parse(readFileSync((await download.path())!, 'utf8')) as BenchReport;
    expect(validateBenchReport(report)).toEqual([]);
    expect(report.command).toBe('app');
    expect(report.params).toEqual({ pp: 8, tg: 4, reps: 2, warmup: 0 });
    // The app runs under the same row budget as the CLI, and says so.
    expect(report.notes).toContain(rowBudgetNote(DEFAULT_ROW_BUDGET_S, 2, 0));
    expect(report.rows).toHaveLength(1);
    const row = report.rows[0]!;
    expect(row.error).toBeNull();
    expect(row).toMatchObject({ engine: 'edgetier', device: 'wasm', dtype: 'fp32', warmup_runs: [0] });
    // What the app runs: runtime 'auto', which keeps fp32 on ONNX Runtime Web.
    expect(row.runtime).toBe('auto');
    expect(row.ort_build).toBe(report.environment.jspi ? 'jspi' : 'wasm');
    expect(await results.locator('tbody tr td').nth(3).textContent()).toBe(
      `ONNX Runtime Web (${row.ort_build})`,
    );
    // The threads the engine loaded with (the planner's choice here: every core up to 4), not 0.
    expect(row.threads).toBe(Math.min(4, report.environment.cpu_cores));
    // The table's cells after the model: device, dtype, threads.
    expect(await results.locator('tbody tr td').nth(2).textContent()).toBe(String(row.threads));
    const cachedNote = report.notes.find((n) => n.startsWith('Run in the app'))!;
    expect(captionText.endsWith('Both loads read the model from the browser cache.')).toBe(
      cachedNote.includes('was in the browser cache before the run'),
    );
    expect(row.pp_tok_s?.values).toHaveLength(2);
    expect(row.tg_tok_s?.values).toHaveLength(2);
    expect(report.environment.cross_origin_isolated).toBe(true);
    expect(report.models[0]).toMatchObject({ synthetic: true });
    expect(serious(await axeViolations(page))).toEqual([]);

    // On a phone the table scrolls sideways in its own box, not the page, and a keyboard can reach
    // and scroll that box in any browser (Chromium alone makes scrollers focusable by itself).
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    const scroller = results.getByRole('region', { name: 'Benchmark table' });
    expect(await scroller.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
    expect(await scroller.getAttribute('tabindex')).toBe('0');
    // The caption (what the numbers mean) is readable without scrolling sideways.
    const box = await scroller.evaluate((el) => el.getBoundingClientRect().right);
    const captionRight = await results.locator('caption').evaluate((el) => el.getBoundingClientRect().right);
    expect(captionRight).toBeLessThanOrEqual(box);
    await scroller.focus();
    await page.keyboard.press('ArrowRight');
    // The key scrolls smoothly: the offset arrives over a few frames, later on a busy machine.
    await expect.poll(() => scroller.evaluate((el) => el.scrollLeft), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(serious(await axeViolations(page))).toEqual([]);
  });
  it('runs at a context depth: the tests run on top of that many cached tokens, and the JSON says so', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${serve.url}#bench`);
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:tiny');
    await page.getByLabel('Prompt tokens (pp)').fill('8');
    await page.getByLabel('Generated tokens (tg)').fill('4');
    await page.getByLabel('Context depth (tokens already in the cache)').fill('40');
    await page.getByLabel('Repetitions').fill('2');
    await page.getByLabel('Warm-up runs').fill('0');
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor({ timeout: 120_000 });
    const captionText = ((await results.locator('caption').textContent()) ?? '').replace(/\s+/g, ' ');
    expect(captionText).toContain(
      'Each test ran with 40 tokens already in the cache (filled before it, not timed).',
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      results.getByRole('button', { name: 'Download JSON' }).click(),
    ]);
    const report = JSON.parse(readFileSync((await download.path())!, 'utf8')) as BenchReport;
    expect(validateBenchReport(report)).toEqual([]);
    expect(report.params).toEqual({ pp: 8, tg: 4, reps: 2, warmup: 0, depth: [40] });
    const row = report.rows[0]!;
    // The method refuses a run whose engine did not hold the 40 tokens: a row that ran held them.
    expect(row.error).toBeNull();
    expect(row.depth).toBe(40);
    expect(row.tg_tok_s?.values).toHaveLength(2);
  });
  it("measures the runtime the app runs: on a q8 model 'auto' runs edgetier's CPU engine, and the row says so", async () => {
    await page.goto(`${serve.url}#bench`);
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:tiny-q8');
    await page.getByLabel('Prompt tokens (pp)').fill('8');
    await page.getByLabel('Generated tokens (tg)').fill('4');
    await page.getByLabel('Context depth (tokens already in the cache)').fill('0');
    await page.getByLabel('Repetitions').fill('2');
    await page.getByLabel('Warm-up runs').fill('0');
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor({ timeout: 120_000 });
    expect(await results.locator('tbody tr td').nth(3).textContent()).toBe("edgetier's CPU engine");
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      results.getByRole('button', { name: 'Download JSON' }).click(),
    ]);
    const report = JSON.parse(readFileSync((await download.path())!, 'utf8')) as BenchReport;
    expect(validateBenchReport(report)).toEqual([]);
    const row = report.rows[0]!;
    expect(row.error).toBeNull();
    expect(row).toMatchObject({ device: 'wasm', dtype: 'q8', runtime: 'auto', ort_build: 'edgetier-wasm' });
    expect(row.peak_memory_note).toContain("edgetier's CPU engine's WebAssembly memory");
    expect(row.peak_memory_bytes).toBeGreaterThan(0);
  });

  it('a row that fails after its load still names the runtime that loaded it (review of issue 12 item 8)', async () => {
    await page.goto(`${serve.url}#bench`);
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:tiny-q8');
    await page.getByLabel('Prompt tokens (pp)').fill('8');
    await page.getByLabel('Generated tokens (tg)').fill('4');
    // More tokens than the model's context: the load succeeds, the first test is refused.
    await page.getByLabel('Context depth (tokens already in the cache)').fill('131072');
    await page.getByLabel('Repetitions').fill('2');
    await page.getByLabel('Warm-up runs').fill('0');
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor({ timeout: 120_000 });
    await expect(results.locator('td.error').count()).resolves.toBe(1);
    expect(await results.locator('tbody tr td').nth(3).textContent()).toBe("edgetier's CPU engine");
    await page.getByLabel('Context depth (tokens already in the cache)').fill('0');
  });
});
