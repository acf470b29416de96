/**
 * The chats' error banner when edgetier's CPU engine refuses the planned q4 and ONNX Runtime's
 * fallback load of q8 then fails, on a 360 px phone: Retry in view however long the message (a
 * hostile review's finding, failing first on a621401). Real Chromium, the real app built and served by `edgetier serve`,
 * the real engine worker; the folder as app-bench-refused-q4-failed-fallback.test.ts builds it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusedQ4Folder } from '../helpers/foreign-initializer.ts';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = synthTinyModels();
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
  app: { select(key: string): Promise<void>; state: { status: string } };
}

describe("the chats' banner when ORT's fallback load fails after the engine refused the q4", () => {
  it('at 360 px the Retry button is in view without scrolling the banner', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${serve.url}#chat`);
    await page.locator('et-app').evaluate(async (el) => {
      const { app } = el as unknown as AppLike;
      for (
        let i = 0;
        i < 600 && !(app as unknown as { entry(k: string): unknown }).entry('local:refusedbroken');
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      await app.select('local:refusedbroken');
    });
    const banner = page.locator('et-app').getByRole('alert');
    await banner.waitFor({ timeout: 120_000 });
    const text = (await banner.textContent()) ?? '';
    const retry = banner.getByRole('button', { name: 'Retry' });
    const seen = await banner.evaluate((el) => {
      const box = el.getBoundingClientRect();
      const button = el.querySelector('button')!.getBoundingClientRect();
      return {
        bannerHeight: Math.round(box.height),
        scrollHeight: el.scrollHeight,
        retryVisible: button.top >= box.top && button.bottom <= box.bottom,
      };
    });
    expect(await retry.count()).toBe(1);
    // What the visitor sees: the message, and whether Retry is on screen in the banner.
    expect(
      seen.retryVisible,
      `${text.length} chars in a ${seen.bannerHeight} px banner (${seen.scrollHeight} px of content): ${text}`,
    ).toBe(true);
  }, 300_000);
});
