/**
 * Builds the stock transformers.js baseline page (bench/stock/) with Vite and NO edgetier config:
 * no ORT-build redirect, so transformers.js imports its own default (asyncify) onnxruntime-web
 * build, exactly as in a developer's app. Rebuilt only when its sources change.
 */
import { rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { versionedBuild } from '../cli/versioned-build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILDS_DIR = join(ROOT, 'node_modules/.cache/edgetier/bench-stock-pages');
const SOURCES = [
  'bench/stock/index.html',
  'bench/stock/stock-page.ts',
  'src/core/metrics.ts',
  'package.json',
];

/** The stock page's folder, one per state of its sources (src/cli/versioned-build.ts). */
export async function buildStockPage(): Promise<string> {
  const newest = Math.max(...SOURCES.map((p) => statSync(join(ROOT, p)).mtimeMs));
  // The single folder of earlier versions, swapped in place.
  rmSync(join(ROOT, 'node_modules/.cache/edgetier/bench-stock-dist'), { recursive: true, force: true });
  return versionedBuild(BUILDS_DIR, newest, async (outDir) => {
    const { build } = await import('vite');
    await build({
      configFile: false,
      root: join(ROOT, 'bench/stock'),
      base: './',
      logLevel: 'error',
      build: { outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
    });
  });
}
