/**
 * Settings' "Test connection" of this server's own tier says what the twin it serves mirrors: that
 * name comes from the model folder's config.json (a stranger's), and its bidi controls must not
 * reverse the app's sentence after it. Real Chromium against the real `edgetier serve`.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

const RLO = '\u202E';
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = synthTinyModels();
  const rtl = join(modelsDir, 'rtl');
  cpSync(join(modelsDir, 'tiny'), rtl, { recursive: true });
  const configPath = join(rtl, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  writeFileSync(
    configPath,
    JSON.stringify({ ...config, edgetier: { ...config.edgetier, mirrors: `Org/${RLO}ledom\u2067x` } }),
  );
  serve = await startServe([
    '--app',
    app,
    '--models',
    modelsDir,
    '--tier',
    'rtl',
    '--tier-dtype',
    'fp32',
    '--quiet',
  ]);
  browser = await launchChromium();
  page = browser.page;
  await page.setViewportSize({ width: 1280, height: 800 });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

describe("Test connection of this server's twin", () => {
  it("keeps the mirrored model's bidi controls out of its sentence", async () => {
    await page.goto(`${serve.url}#settings`);
    const group = page.getByRole('group', { name: /^This server/ });
    await group.getByRole('button', { name: 'Test connection', exact: true }).click();
    const result = group.getByTestId('tier-check');
    await expect.poll(() => result.textContent()).toMatch(/^Connected: /);
    const text = (await result.textContent()) ?? '';
    expect(text).toContain('It is a synthetic twin of Org/ledomx: random weights, so its answers are noise.');
    expect(text).not.toMatch(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/);
  });
});
