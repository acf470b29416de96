/**
 * Accessibility of every view, in light and dark, at desktop and phone widths: axe-core finds no
 * serious or critical violation, the main controls have the exact accessible names people and
 * assistive tech rely on, and nothing scrolls sideways at 360 px.
 */
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
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

/** The focused element, through shadow roots: its tag and accessible label. */
const FOCUSED = `(() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  const label = el.getAttribute('aria-label') || (el.labels && el.labels[0] ? el.labels[0].textContent.trim() : '') || el.textContent.trim();
  return [el.tagName, label];
})()`;

/** Presses Tab until the element with this tag and label has focus (fails after 80 presses). */
async function tabTo(page: Page, tag: string, label: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const [focusedTag, focusedLabel] = (await page.evaluate(FOCUSED)) as [string, string];
    if (focusedTag === tag && focusedLabel === label) return;
  }
  throw new Error(`Tab never reached ${tag} "${label}"`);
}

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

  it('works with the keyboard alone: pick a model, chat, stop with Esc', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${serve.url}#models`);
    await page.getByRole('button', { name: 'Use tiny' }).waitFor();
    await tabTo(page, 'BUTTON', 'Use tiny');
    await page.keyboard.press('Enter');
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    await tabTo(page, 'TEXTAREA', 'Message');
    await page.keyboard.type('Hello');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('again');
    await expect(page.getByRole('textbox', { name: 'Message', exact: true }).inputValue()).resolves.toBe(
      'Hello\nagain',
    );
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Stop', exact: true }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 30_000 });
    await expect(page.locator('et-chat-message').first().locator('.content').textContent()).resolves.toBe(
      'Hello\nagain\n',
    );
  });

  it('lays every view out at 360 px without sideways scrolling', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 360, height: 740 });
    for (const view of VIEWS) {
      await page.goto(`${serve.url}#${view}`);
      await page.locator('header').getByRole('combobox', { name: 'Model', exact: true }).waitFor();
      const widths = (await page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })',
      )) as { scroll: number; viewport: number };
      expect(widths.scroll, view).toBeLessThanOrEqual(widths.viewport);
    }
  });
});
