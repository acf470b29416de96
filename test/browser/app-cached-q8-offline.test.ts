/**
 * A visitor who cached a model's q8 file before Automatic planned q4 (AUTO_ENGINE_PREFERS_Q4, on as
 * shipped) keeps it: on the next visit the app loads the cached q8 (no q4 download), and with the
 * network cut off it loads again from the cache (the planned q4 would fail with download_failed).
 * Real Chromium against the real `edgetier serve`, a tiny folder edgetier wrote in q8 and q4.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTO_ENGINE_PREFERS_Q4 } from '../../src/core/cpu-runtime-plan.ts';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
const KEY = 'local:both';

beforeAll(async () => {
  const app = await buildApp();
  const modelsDir = synthTinyModels();
  execFileSync(
    process.execPath,
    [
      resolve(import.meta.dirname, '../../bin/edgetier.mjs'),
      'synth',
      'tiny',
      '--out',
      join(modelsDir, 'both'),
      '--dtype',
      'q8,q4',
      '--seed',
      '3',
    ],
    { stdio: 'pipe' },
  );
  serve = await startServe(['--app', app, '--models', modelsDir, '--no-tier', '--quiet']);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

type AppLike = {
  app: {
    state: {
      status: string;
      error: string | null;
      notice: string | null;
      cached: { id: string; dtypes?: string[] }[];
      loadInfo: { dtype: string; engine?: string } | null;
    };
    dtypeFor(entry: unknown): string;
    cachedInstead(entry: unknown): string | undefined;
    entry(key: string): unknown;
    setDtype(key: string, dtype: string): void;
    select(key: string): Promise<void>;
  };
};

describe.skipIf(!AUTO_ENGINE_PREFERS_Q4)('a q8 cached before Automatic planned q4', () => {
  it('is loaded on the next visit, no q4 downloaded, and again with the network cut off', async () => {
    const { page, context } = browser;
    await page.goto(`${serve.url}#models`);
    const app = page.locator('et-app');
    const state = () => app.evaluate((el) => (el as unknown as AppLike).app.state);
    // Planned: q4 for the engine. The visitor (before the flip, as the plan then was) loads q8.
    await expect
      .poll(
        () =>
          app.evaluate(
            (el, key) => (el as unknown as AppLike).app.dtypeFor((el as unknown as AppLike).app.entry(key)),
            KEY,
          ),
        { timeout: 30_000 },
      )
      .toBe('q4');
    await app.evaluate(async (el, key) => {
      const { app } = el as unknown as AppLike;
      app.setDtype(key, 'q8');
      await app.select(key);
    }, KEY);
    await expect.poll(async () => (await state()).loadInfo?.dtype, { timeout: 60_000 }).toBe('q8');
    await expect.poll(async () => (await state()).cached.flatMap((c) => c.dtypes ?? [])).toEqual(['q8']);

    // The next visit: no dtype chosen in this page; the remembered folder loads unasked.
    const weights: string[] = [];
    const onRequest = (r: Request) => {
      if (/\/onnx\/model_[^/]*\.onnx/.test(r.url()) && r.method() === 'GET') weights.push(r.url());
    };
    context.on('request', onRequest);
    try {
      await page.reload();
      await expect.poll(async () => (await state()).status, { timeout: 60_000 }).toBe('ready');
      expect((await state()).loadInfo?.dtype).toBe('q8');
      expect(weights.filter((u) => u.endsWith('model_q4.onnx'))).toEqual([]);
      // Bench pins the same format (AppState.cachedInstead), so it measures what the chats run.
      await expect(
        app.evaluate((el, key) => {
          const { app } = el as unknown as AppLike;
          return app.cachedInstead(app.entry(key));
        }, KEY),
      ).resolves.toBe('q8');
    } finally {
      context.off('request', onRequest);
    }

    await context.setOffline(true);
    try {
      const dtype = await app.evaluate(async (el, key) => {
        const { app } = el as unknown as AppLike;
        await app.select(key);
        return app.dtypeFor(app.entry(key));
      }, KEY);
      expect(dtype).toBe('q8');
      const after = await state();
      expect(after.error).toBeNull();
      expect(after.status).toBe('ready');
      expect(after.loadInfo?.dtype).toBe('q8');
      // The engine's worker was offline too: it says it used the cached copy as it is.
      expect(after.notice).toMatch(/^Offline: the cached copy of .*\/both is used as it is/);
    } finally {
      await context.setOffline(false);
    }
  });
});
