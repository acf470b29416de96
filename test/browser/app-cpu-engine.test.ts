/**
 * The app's CPU engine setting, in real Chromium against the real `edgetier serve`. By default
 * (Automatic) a q8 model runs on edgetier's CPU engine and an fp32 one on ONNX Runtime, and the
 * Models view and Settings say which and why. With edgetier's CPU engine chosen in Settings (by
 * keyboard) the fp32 tiny model runs on it, on its thread pool, and the Models view says so
 * (threads included); a model whose ONNX
 * file names an initializer with markup is refused by name, ONNX Runtime runs it, and the notice
 * that says why shows the markup as text (nothing of it runs or renders).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let modelsDir: string;
const MARKUP = '<img src=x onerror="globalThis.__pwned=1">';
const LONG_NAME = `onnx::MatMul_${'7'.repeat(66)}`;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const field = (tag: number, payload: number[]) => [tag, ...varint(payload.length), ...payload];

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = synthTinyModels();
  // tiny with one more initializer, named with markup, that no node uses (ONNX Runtime accepts it).
  const foreign = join(modelsDir, 'foreign');
  cpSync(join(modelsDir, 'tiny'), foreign, { recursive: true });
  const tensor = [
    ...[0x08, 1],
    ...[0x10, 1],
    ...field(0x42, [...new TextEncoder().encode(MARKUP)]),
    ...field(0x4a, [0, 0, 0, 0]),
  ];
  const file = join(foreign, 'onnx', 'model.onnx');
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from(field(0x3a, field(0x2a, tensor)))]));
  // tiny in q8 only: the weights 'auto' runs on the CPU engine.
  execFileSync(
    process.execPath,
    [
      resolve(import.meta.dirname, '../../bin/edgetier.mjs'),
      'synth',
      'tiny',
      '--out',
      join(modelsDir, 'tinyq'),
      '--dtype',
      'q8',
      '--seed',
      '3',
    ],
    { stdio: 'pipe' },
  );
  // tinyq with an initializer named as another exporter would, one long word (the reason clips it
  // at 80 characters): 'auto' falls back to ONNX Runtime and the app says why.
  const hubq = join(modelsDir, 'hubq');
  cpSync(join(modelsDir, 'tinyq'), hubq, { recursive: true });
  const hubTensor = [
    ...[0x08, 1],
    ...[0x10, 1],
    ...field(0x42, [...new TextEncoder().encode(LONG_NAME)]),
    ...field(0x4a, [0, 0, 0, 0]),
  ];
  const hubFile = join(hubq, 'onnx', 'model_quantized.onnx');
  writeFileSync(
    hubFile,
    Buffer.concat([readFileSync(hubFile), Buffer.from(field(0x3a, field(0x2a, hubTensor)))]),
  );
  serve = await startServe(['--app', app, '--models', modelsDir, '--no-tier', '--quiet']);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

describe("the app on edgetier's CPU engine", () => {
  it('by default (Automatic) runs a q8 model on it and an fp32 one on ONNX Runtime, saying why', async () => {
    const { page } = browser;
    await page.goto(`${serve.url}#settings`);
    const select = page.getByRole('combobox', { name: 'CPU engine', exact: true });
    await expect(select.inputValue()).resolves.toBe('auto');
    await expect(select.locator('option:checked').textContent()).resolves.toBe(
      'Automatic (measured fastest)',
    );

    await page.goto(`${serve.url}#models`);
    await page.getByRole('button', { name: 'Use tinyq' }).click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    await page.goto(`${serve.url}#models`);
    const threads = Math.min(4, (await page.evaluate('navigator.hardwareConcurrency')) as number);
    await page
      .getByText(
        `In this tab (WASM, edgetier's CPU engine (SIMD128), ${threads} thread${threads === 1 ? '' : 's'}; auto: edgetier's CPU engine decodes q8 weights 2.6-3.2x faster than ONNX Runtime does on WASM, in 30-40 % of its memory)`,
      )
      .waitFor({ timeout: 30_000 });
    await page.goto(`${serve.url}#settings`);
    await expect(page.getByTestId('cpu-engine-picked').textContent()).resolves.toBe(
      "The loaded model runs on edgetier's CPU engine: edgetier's CPU engine decodes q8 weights 2.6-3.2x faster than ONNX Runtime does on WASM, in 30-40 % of its memory.",
    );
    // A screen reader reads what the setting picked, and why, with the select (not only by browsing on).
    const described = await page.getByRole('combobox', { name: 'CPU engine', exact: true }).evaluate((el) => {
      // The test realm has no DOM types: the few used here, by shape.
      const root = el.getRootNode() as unknown as {
        getElementById(id: string): { textContent: string } | null;
      };
      return (el.getAttribute('aria-describedby') ?? '')
        .split(/\s+/)
        .map((id: string) => root.getElementById(id)?.textContent ?? '');
    });
    expect(described).toContain(
      "The loaded model runs on edgetier's CPU engine: edgetier's CPU engine decodes q8 weights 2.6-3.2x faster than ONNX Runtime does on WASM, in 30-40 % of its memory.",
    );
    // Nothing to act on: no banner for a choice the visitor did not make.
    await expect(page.locator('.banner.notice').count()).resolves.toBe(0);

    await page.goto(`${serve.url}#models`);
    await page.getByRole('button', { name: 'Use tiny', exact: true }).click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    await page.goto(`${serve.url}#models`);
    await page
      .getByText(
        "In this tab (WASM, ONNX Runtime; auto: ONNX Runtime decodes fp32 weights 1.3-1.8x faster than edgetier's CPU engine)",
      )
      .waitFor({ timeout: 30_000 });
  });

  it('by default falls back to ONNX Runtime for a q8 graph it does not recognise, the reason fitting 360 px', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${serve.url}#models`);
    await page.getByRole('button', { name: 'Use hubq' }).click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    const fits = async () => {
      const widths = (await page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })',
      )) as { scroll: number; viewport: number };
      expect(widths.scroll).toBeLessThanOrEqual(widths.viewport);
    };
    await page.goto(`${serve.url}#settings`);
    const picked = page.getByTestId('cpu-engine-picked');
    await picked.waitFor({ timeout: 30_000 });
    await expect(picked.textContent()).resolves.toContain(
      `The loaded model runs on ONNX Runtime: edgetier's CPU engine refused it (The q8 ONNX file has initializers the CPU engine does not recognise (${LONG_NAME})`,
    );
    await fits();
    // Inside the page too: the line's own text ends within the screen (a clipped overflow hides it).
    type Rects = { getClientRects(): Iterable<{ right: number }> };
    const textRight = (el: unknown) => {
      const doc = (
        globalThis as unknown as {
          document: { createRange(): Rects & { selectNodeContents(n: unknown): void } };
        }
      ).document;
      const range = doc.createRange();
      range.selectNodeContents(el);
      return Math.max(...[...range.getClientRects()].map((r) => r.right));
    };
    await expect(picked.evaluate(textRight)).resolves.toBeLessThanOrEqual(360);
    await page.goto(`${serve.url}#models`);
    const runsOn = page.getByText(LONG_NAME, { exact: false }).first();
    await runsOn.waitFor({ timeout: 30_000 });
    await fits();
    await expect(runsOn.evaluate(textRight)).resolves.toBeLessThanOrEqual(360);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('is chosen by keyboard in Settings, runs the tiny model, and says why ORT runs another', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${serve.url}#settings`);
    const select = page.getByRole('combobox', { name: 'CPU engine', exact: true });
    await select.waitFor();
    await select.focus();
    await page.keyboard.press('ArrowDown');
    await expect(select.inputValue()).resolves.toBe('onnxruntime');
    await page.keyboard.press('ArrowDown');
    await expect(select.inputValue()).resolves.toBe('edgetier');
    const widths = (await page.evaluate(
      '({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })',
    )) as { scroll: number; viewport: number };
    expect(widths.scroll).toBeLessThanOrEqual(widths.viewport);

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${serve.url}#models`);
    await page.getByRole('button', { name: 'Use tiny', exact: true }).click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    await page.goto(`${serve.url}#models`);
    // `edgetier serve` is cross-origin isolated: the engine's own pool, every core up to 4, as for ORT.
    const threads = Math.min(4, (await page.evaluate('navigator.hardwareConcurrency')) as number);
    await page
      .getByText(
        `In this tab (WASM, edgetier's CPU engine (SIMD128), ${threads} thread${threads === 1 ? '' : 's'}; edgetier's CPU engine was asked for)`,
      )
      .waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Use foreign' }).click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    const notice = page.locator('.banner.notice');
    await notice.waitFor({ timeout: 60_000 });
    const text = await notice.textContent();
    expect(text).toContain("edgetier's CPU engine could not run this model");
    expect(text).toContain(MARKUP);
    expect(text).toContain('ONNX Runtime runs it instead');
    await expect(page.locator('img[src="x"]').count()).resolves.toBe(0);
    await expect(page.evaluate('globalThis.__pwned')).resolves.toBeUndefined();
  });
});
