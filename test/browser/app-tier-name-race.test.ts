/**
 * The server's tier is named by what it serves, asked at start-up: when the visitor changes the
 * tier while that first answer is on its way, the answer (about the tier as it was) must not name
 * the tier as it is now. Real Chromium against the real `edgetier serve`; the first GET /v1/models
 * is held in Chromium's network layer until the test lets it through.
 */
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTinyTierApp, type TinyTierApp } from './app-fixture.ts';

let fixture: TinyTierApp;
let page: Page;

beforeAll(async () => {
  fixture = await startTinyTierApp();
  page = fixture.page;
});

afterAll(async () => {
  await fixture?.close();
});

type AppLike = { app: { state: { served: Record<string, { id: string } | null> } } };
const served = () =>
  page.locator('et-app').evaluate((el) => (el as unknown as AppLike).app.state.served['remote:server']);

describe("a slow answer about the server's tier", () => {
  it('does not name the tier after the visitor changed the model it asks for', async () => {
    const held: Route[] = [];
    await page.route('**/v1/models', async (route) => {
      if (held.length === 0) held.push(route);
      else await route.continue();
    });
    await page.goto(`${fixture.serve.url}#settings`);
    await expect.poll(() => held.length).toBe(1);
    // The visitor asks this server's tier for a model it does not serve, and saves.
    const group = page.getByRole('group', { name: 'This server', exact: true });
    await group.getByLabel('Model', { exact: true }).fill('not-served-here');
    await group.getByRole('button', { name: 'Save tier', exact: true }).click();
    // Asked again for the tier as it is now: it serves no "not-served-here", so no served model.
    await expect.poll(served).toBeNull();
    // The first answer (tiny, a twin) arrives late: it was about the tier as it was.
    await held[0]!.continue();
    await expect
      .poll(() =>
        page.evaluate(
          () => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/v1/models')).length,
        ),
      )
      .toBe(2);
    await page.locator('et-app').evaluate(() => new Promise((r) => setTimeout(r, 500)));
    await expect(served()).resolves.toBeNull();
    await expect(page.getByRole('group', { name: 'This server', exact: true }).count()).resolves.toBe(1);
    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    const option = page
      .getByRole('combobox', { name: 'Remote tier', exact: true })
      .locator('option[value="remote:server"]');
    await expect(option.textContent()).resolves.toBe('This server');
  });
});
