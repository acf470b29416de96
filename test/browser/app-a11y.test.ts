/**
 * Accessibility of every view, in light and dark, at desktop and phone widths: axe-core finds no
 * serious or critical violation, the main controls have the exact accessible names people and
 * assistive tech rely on, and nothing scrolls sideways at 360 px.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  buildApp,
  launchChromium,
  type ServeProcess,
  serious,
  startServe,
  synthTinyModels,
} from './app-fixture.ts';

const VIEWS = ['chat', 'models', 'compare', 'bench', 'settings'] as const;

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let modelsDir: string;

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = synthTinyModels();
  serve = await startServe(['--app', app, '--models', modelsDir, '--no-tier', '--quiet']);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  rmSync(modelsDir, { recursive: true, force: true });
});

describe('app accessibility', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`has no serious or critical axe violations on any view (${scheme})`, async () => {
      const { page } = browser;
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
      for (const view of VIEWS) {
        await page.goto(`${serve.url}#${view}`);
        await page.getByRole('link', { name: view[0]!.toUpperCase() + view.slice(1), exact: true }).waitFor();
        await page
          .locator('et-app')
          .evaluate((el) => (el as unknown as { updateComplete: Promise<unknown> }).updateComplete);
        const violations = serious(await axeViolations(page));
        expect(violations, `${view} (${scheme}): ${JSON.stringify(violations, null, 1)}`).toEqual([]);
      }
    });
  }

  it('names the main controls exactly', async () => {
    const { page } = browser;
    await page.goto(`${serve.url}#chat`);
    await expect(page.getByRole('textbox', { name: 'Message', exact: true }).count()).resolves.toBe(1);
    await expect(page.getByRole('button', { name: 'Send', exact: true }).count()).resolves.toBe(1);
    await expect(page.getByRole('combobox', { name: 'Model', exact: true }).count()).resolves.toBe(1);
    await expect(
      page.getByRole('navigation', { name: 'Views' }).getByRole('link').allTextContents(),
    ).resolves.toEqual(['Chat', 'Models', 'Compare', 'Bench', 'Settings']);
  });

  it('lays every view out at 360 px without sideways scrolling', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 360, height: 740 });
    for (const view of VIEWS) {
      await page.goto(`${serve.url}#${view}`);
      await page.getByRole('combobox', { name: 'Model', exact: true }).waitFor();
      const widths = (await page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })',
      )) as { scroll: number; viewport: number };
      expect(widths.scroll, view).toBeLessThanOrEqual(widths.viewport);
    }
  });
});
