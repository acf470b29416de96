/**
 * The browser experiments' page: a cross-origin isolated origin on 127.0.0.1 (COOP/COEP on every
 * response, so the page's workers get shared memory) serving a few fixed files, opened in headless
 * Chromium. Any other path answers with `html`, the page itself.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { launchChromium } from '../../src/cli/browser.ts';

export interface IsolatedPage {
  page: Page;
  /** Closes Chromium, then the server. */
  close(): Promise<void>;
}

/** `files`: path -> [Content-Type, body]. */
export async function openIsolatedPage(
  html: string,
  files: Record<string, [string, string | Uint8Array]>,
): Promise<IsolatedPage> {
  const server = createServer((req, res) => {
    const [type, body] = files[req.url ?? ''] ?? ['text/html', html];
    res
      .writeHead(200, {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Content-Type': type,
      })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium();
  await browser.page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return {
    page: browser.page,
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
