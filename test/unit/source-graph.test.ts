/**
 * src/ holds the product only: every file in it is reached from an entry point (the CLI's bin, the
 * pre-test scripts, the app and engine pages, the stock baseline page, the build configs) or from a
 * test. One-off speed experiments live in bench/experiments/. And the core, which every realm
 * shares, has no import cycle.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, importsOf, reachable, sourceFiles } from '../helpers/source-graph.ts';

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

describe('the import graph reader', () => {
  /** A throwaway project of `files` (path -> text), removed afterwards. */
  function withProject(files: Record<string, string>, check: (root: string) => void): void {
    const root = mkdtempSync(join(tmpdir(), 'edgetier-graph-'));
    try {
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      }
      check(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  it('follows every kind of import, and none that a comment only mentions', () => {
    withProject(
      {
        'src/main.ts': [
          "const home = 'https://example.com/*not a comment*/';",
          "import type { T } from './types.ts';",
          "import wasm from './asset.ts?url';",
          "export { x } from './reexport.ts';",
          "const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });",
          "const lazy = () => import('./lazy.ts');",
          "// Before, `await import('./commented.ts')` loaded it; now nothing does.",
          "/* import { gone } from './block-commented.ts'; */",
          'const quote = /[\'"]/g;',
          "import './side-effect.ts';",
        ].join('\n'),
        'src/types.ts': 'export type T = 1;',
        'src/asset.ts': '',
        'src/reexport.ts': 'export const x = 1;',
        'src/worker.ts': '',
        'src/lazy.ts': '',
        'src/commented.ts': '',
        'src/block-commented.ts': '',
        'src/side-effect.ts': '',
        'index.html':
          '<!-- <script type="module" src="/src/old.ts"></script> -->\n<script type="module" src="/src/main.ts"></script>',
        'src/old.ts': '',
      },
      (root) => {
        expect(importsOf(root, 'src/main.ts')).toEqual([
          'src/asset.ts',
          'src/lazy.ts',
          'src/reexport.ts',
          'src/side-effect.ts',
          'src/types.ts',
          'src/worker.ts',
        ]);
        expect(importsOf(root, 'index.html')).toEqual(['src/main.ts']);
        const used = reachable(root, ['index.html']);
        expect(sourceFiles(root, 'src').filter((f) => !used.has(f))).toEqual([
          'src/block-commented.ts',
          'src/commented.ts',
          'src/old.ts',
        ]);
      },
    );
  });
});
