/**
 * What the app's browser tests share: a fresh Vite build of the app (rebuilt only when its sources
 * changed since the last one), a tiny synthetic model folder, the real `edgetier serve` over both,
 * real Chromium, and axe-core.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { launchChromium } from '../../src/cli/browser.ts';
import { APP_SOURCES } from '../../src/cli/commands/start.ts';
import { newestMtime } from '../../src/cli/newest-mtime.ts';
import { type ServeProcess, startServe } from '../helpers/serve-process.ts';

export { launchChromium } from '../../src/cli/browser.ts';
export { type ServeProcess, startServe } from '../helpers/serve-process.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD_DIR = join(ROOT, 'node_modules/.cache/edgetier/app-dist');
// What the app's build reads (start.test.ts holds the list to the import graph); a list of its own
// here missed src/runtime, src/cpu-engine and src/builder, so app tests ran on a stale build.
const SOURCES = APP_SOURCES;

/** The built app (index.html, engine.html, assets): `vite build` when a source is newer than the last build. */
export async function buildApp(): Promise<string> {
  const stamp = String(Math.max(...SOURCES.map((path) => newestMtime(join(ROOT, path)))));
  const stampFile = join(BUILD_DIR, '.sources-mtime');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return BUILD_DIR;
  const staging = `${BUILD_DIR}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  await build({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: staging, emptyOutDir: true },
  });
  writeFileSync(join(staging, '.sources-mtime'), stamp);
  rmSync(BUILD_DIR, { recursive: true, force: true });
  renameSync(staging, BUILD_DIR);
  return BUILD_DIR;
}

/** The app served by `edgetier serve` with the `tiny` folder as its native tier, and Chromium at 1280x800. */
export interface TinyTierApp {
  serve: ServeProcess;
  browser: Awaited<ReturnType<typeof launchChromium>>;
  page: Page;
  modelsDir: string;
  close(): Promise<void>;
}

/** How a test wants the shared set-up varied; the defaults are what most app tests use. */
export interface TinyTierAppOptions {
  /** The page's viewport; null keeps the browser's own (default 1280x800). */
  viewport?: { width: number; height: number } | null;
  /** Emulate `prefers-reduced-motion: reduce` (no transitions to wait for). */
  reducedMotion?: boolean;
  /** Changes the models folder before the server reads it (e.g. hostile files in `tiny`). */
  prepareModels?: (modelsDir: string) => void;
}

/** Starts what most app tests start with: the built app, `tiny` as the server's tier, a browser page. */
export async function startTinyTierApp(options: TinyTierAppOptions = {}): Promise<TinyTierApp> {
  const app = await buildApp();
  const modelsDir = synthTinyModels();
  options.prepareModels?.(modelsDir);
  const serve = await startServe([
    '--app',
    app,
    '--models',
    modelsDir,
    '--tier',
    'tiny',
    '--tier-dtype',
    'fp32',
    '--quiet',
  ]);
  const browser = await launchChromium();
  const viewport = options.viewport === undefined ? { width: 1280, height: 800 } : options.viewport;
  if (viewport) await browser.page.setViewportSize(viewport);
  if (options.reducedMotion) await browser.page.emulateMedia({ reducedMotion: 'reduce' });
  return {
    serve,
    browser,
    page: browser.page,
    modelsDir,
    async close() {
      await browser.close();
      await serve.stop();
      rmSync(modelsDir, { recursive: true, force: true });
    },
  };
}

/**
 * A folder of model folders holding `tiny` (0.1M params, fp32), built by `edgetier synth`. Seed 3:
 * its greedy answers are visible text that never samples end-of-text early (seed 0's are newlines),
 * so the tests run greedy and deterministic.
 */
export function synthTinyModels(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgetier-app-models-'));
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'bin/edgetier.mjs'),
      'synth',
      'tiny',
      '--out',
      join(dir, 'tiny'),
      '--dtype',
      'fp32',
      '--seed',
      '3',
    ],
    { stdio: 'pipe' },
  );
  return dir;
}

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** Runs axe-core (WCAG 2.x A/AA and best practices) on the page, shadow roots included. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated rather than added as a script tag: the app's CSP allows no inline script.
  if (!(await page.evaluate("'axe' in window"))) await page.evaluate(AXE_SOURCE);
  // A string, evaluated in the page: this file is type-checked in the Node realm (no DOM types).
  return page.evaluate(`(async () => {
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => JSON.stringify(n.target)),
    }));
  })()`);
}

export const serious = (violations: AxeViolation[]) =>
  violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
