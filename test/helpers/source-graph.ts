/**
 * The project's import graph, read with a few regular expressions over relative import specifiers
 * (static, dynamic, `export … from`, `new URL('…', import.meta.url)` for workers and the CPU engine's
 * AssemblyScript source, `/// <reference path>` for ambient declarations, and the module
 * scripts of the HTML pages). Enough to answer "which files of src/ does nothing use" and "where are
 * the import cycles" without a bundler; bare specifiers (packages, `node:`) are left out.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SOURCE = /\.(ts|mts|mjs|js|html)$/;

const SPECIFIERS = [
  /\b(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\bnew URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g,
  /^\/\/\/\s*<reference\s+path="([^"]+)"/gm,
];
const HTML_SCRIPT = /<script\b[^>]*\bsrc="([^"]+)"/g;

/** Every source file under `dir` (relative to `root`, with `/`), node_modules and dot folders skipped. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (SOURCE.test(entry.name)) out.push(relative(root, path).split(sep).join('/'));
    }
  };
  if (existsSync(join(root, dir))) walk(join(root, dir));
  return out.sort();
}

/** The project files `file` imports (relative to `root`); throws on a relative import that names nothing. */
export function importsOf(root: string, file: string): string[] {
  const abs = join(root, file);
  const text = readFileSync(abs, 'utf8');
  const specs: string[] = [];
  const patterns = file.endsWith('.html') ? [HTML_SCRIPT] : SPECIFIERS;
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) specs.push(m[1]!);
  const out = new Set<string>();
  for (const raw of specs) {
    const spec = raw.replace(/[?#].*$/, '');
    let target: string;
    if (spec.startsWith('./') || spec.startsWith('../')) target = resolve(dirname(abs), spec);
    else if (file.endsWith('.html') && spec.startsWith('/')) target = join(root, spec);
    else continue;
    if (!existsSync(target)) throw new Error(`${file} imports ${raw}, which does not exist`);
    // `new URL('../../', import.meta.url)` names a folder (the repository root), not a module.
    if (statSync(target).isDirectory()) continue;
    out.add(relative(root, target).split(sep).join('/'));
  }
  return [...out].sort();
}

/** Every file reached from `entries` by following imports. */
export function reachable(root: string, entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...entries];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const next of importsOf(root, file)) if (!seen.has(next)) stack.push(next);
  }
  return seen;
}

/** The import cycles among `files` (Tarjan's strongly connected components of two or more files). */
export function importCycles(root: string, files: readonly string[]): string[][] {
  const inside = new Set(files);
  const edges = new Map(files.map((f) => [f, importsOf(root, f).filter((t) => inside.has(t))]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return cycles;
}
