/**
 * A Hub model in the browser cache in one weight format is no download only in that format: the
 * Model menu's Load button says "Download and load … (N MiB)", and a remembered choice is not
 * loaded unasked, when the format the page would load is not the one cached. Real Chromium against
 * the real `edgetier serve`; the cache holds a complete record of the model's q4f16 file only
 * (written in the page's own Cache Storage, as the engine's worker writes it).
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, type ServeProcess, startServe } from './app-fixture.ts';

const HUB_ID = 'onnx-community/SmolLM2-135M-Instruct-ONNX';
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

beforeAll(async () => {
  const app = await buildApp();
  serve = await startServe(['--app', app, '--quiet']);
  browser = await launchChromium();
  page = browser.page;
  await page.setViewportSize({ width: 1280, height: 800 });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

type AppLike = {
  app: {
    state: { status: string; cached: { id: string }[]; selectedKey: string | null };
    dtypeFor(entry: unknown): string;
    entry(key: string): unknown;
  };
};

describe('a Hub model cached in another weight format', () => {
  it('is offered as a download, never loaded unasked', async () => {
    await page.goto(serve.url);
    // Runs in the page (a string: the Node realm's types have no DOM).
    const base = `https://huggingface.co/${HUB_ID}`;
    const manifest = {
      format: 1,
      base,
      files: {
        [`${base}/resolve/main/onnx/model_q4f16.onnx`]: {
          bytes: 100,
          parts: [{ offset: 0, bytes: 100 }],
          complete: true,
        },
      },
      complete: true,
    };
    await page.evaluate(`(async () => {
      const cache = await caches.open('edgetier-models-v2');
      await cache.put(${JSON.stringify(`${base}/.edgetier/manifest.json`)}, new Response(${JSON.stringify(JSON.stringify(manifest))}));
      localStorage.setItem('edgetier.modelChoice.v1', ${JSON.stringify(HUB_ID)});
    })()`);
    await page.reload();
    const app = () => page.locator('et-app').evaluate((el) => (el as unknown as AppLike).app.state);
    await expect
      .poll(async () => (await app()).cached.map((c) => c.id))
      .toEqual([`https://huggingface.co/${HUB_ID}`]);
    const dtype = await page.locator('et-app').evaluate((el, key) => {
      const { app } = el as unknown as AppLike;
      return app.dtypeFor(app.entry(key));
    }, HUB_ID);
    expect(dtype).not.toBe('q4f16');
    const load = page.locator('et-app').getByRole('button', { name: /load SmolLM2 135M Instruct/i });
    await expect
      .poll(() => load.textContent(), { timeout: 30_000 })
      .toMatch(/^\s*Download and load SmolLM2 135M Instruct \((≈ )?\d+ MiB\)\s*$/);
    await expect(app().then((s) => s.status)).resolves.toBe('idle');
  });
});
