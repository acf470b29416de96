/**
 * Launches Debian's Chromium (/usr/bin/chromium) headless through playwright-core, with a fresh
 * profile and the flags that keep it off Google's hosts. `webgpu: true` adds
 * `--enable-unsafe-webgpu` (on a machine without a GPU the adapter is SwiftShader: correct, slow).
 * Shared by `edgetier generate --device wasm|webgpu`, the browser tests and the benchmarks. A missing
 * browser is a one-line `browser_missing` error that says how to install it, before Playwright runs;
 * one that does not start is a one-line `browser_failed` error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { EdgetierError } from '../core/errors.ts';
import { chromiumLocation, isExecutableFile, missingChromiumMessage } from './chromium.ts';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** The Chromium binary to launch; a `browser_missing` error that says how to install it when absent. */
export function requireChromium(): string {
  const location = chromiumLocation();
  if (!isExecutableFile(location.path)) {
    throw new EdgetierError('browser_missing', missingChromiumMessage(location));
  }
  return location.path;
}

/** `serviceWorkers: 'block'`: a browser where no service worker can start (tests of the fallbacks). */
export async function launchChromium(
  options: { webgpu?: boolean; serviceWorkers?: 'allow' | 'block' } = {},
): Promise<LaunchedBrowser> {
  const executablePath = requireChromium();
  const profile = mkdtempSync(join(tmpdir(), 'edgetier-chromium-'));
  const args = [...CHROMIUM_ARGS, ...(options.webgpu ? ['--enable-unsafe-webgpu'] : [])];
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args,
      serviceWorkers: options.serviceWorkers ?? 'allow',
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    // Playwright's message carries the browser's whole log: one line says what failed and what to do.
    const { path, fromEnv } = chromiumLocation();
    const first = ((error as Error).message ?? String(error)).split('\n')[0];
    throw new EdgetierError(
      'browser_failed',
      `Chromium at ${path}${fromEnv ? ' (EDGETIER_CHROMIUM)' : ''} did not start (${first}): check that ` +
        `\`${path} --version\` runs, or point EDGETIER_CHROMIUM at a working Chromium binary.`,
      { cause: error },
    );
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
