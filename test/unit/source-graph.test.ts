/**
 * src/ holds the product only: every file in it is reached from an entry point (the CLI's bin, the
 * pre-test scripts, the app and engine pages, the stock baseline page, the build configs) or from a
 * test. One-off speed experiments live in bench/experiments/. And the core, which every realm
 * shares, has no import cycle.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, reachable, sourceFiles } from '../helpers/source-graph.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const ENTRIES = [
  ...sourceFiles(ROOT, 'bin'),
  ...sourceFiles(ROOT, 'scripts'),
  'index.html',
  'engine.html',
  'bench/stock/index.html',
  'vite.config.ts',
  'vitest.config.ts',
  ...sourceFiles(ROOT, 'test'),
];

describe('source graph', () => {
  it('reaches every file of src/ from the product entry points or the tests', () => {
    const used = reachable(ROOT, ENTRIES);
    expect(sourceFiles(ROOT, 'src').filter((f) => !used.has(f))).toEqual([]);
  });

  it('finds no import cycle in src/core', () => {
    expect(importCycles(ROOT, sourceFiles(ROOT, 'src/core'))).toEqual([]);
  });
});
