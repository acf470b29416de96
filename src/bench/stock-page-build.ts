/**
 * Builds the stock transformers.js baseline page (bench/stock/) with Vite and NO edgetier config:
 * no ORT-build redirect, so transformers.js imports its own default (asyncify) onnxruntime-web
 * build, exactly as in a developer's app. Rebuilt only when its sources change.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD_DIR = join(ROOT, 'node_modules/.cache/edgetier/bench-stock-dist');
const SOURCES = [
  'bench/stock/index.html',
  'bench/stock/stock-page.ts',
  'src/core/metrics.ts',
  'package.json',
];

export async function buildStockPage(): Promise<string> {
  const stamp = join(BUILD_DIR, '.sources-mtime');
  const newest = Math.max(...SOURCES.map((p) => statSync(join(ROOT, p)).mtimeMs));
  if (existsSync(stamp) && Number(readFileSync(stamp, 'utf8')) >= newest) return BUILD_DIR;
  const { build } = await import('vite');
  const tmp = `${BUILD_DIR}.tmp-${process.pid}-${Date.now()}`;
  await build({
    configFile: false,
    root: join(ROOT, 'bench/stock'),
    base: './',
    logLevel: 'error',
    build: { outDir: tmp, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  });
  writeFileSync(join(tmp, '.sources-mtime'), String(newest));
  rmSync(BUILD_DIR, { recursive: true, force: true });
  mkdirSync(dirname(BUILD_DIR), { recursive: true });
  renameSync(tmp, BUILD_DIR);
  return BUILD_DIR;
}
