/**
 * The project's import graph, read from each module's syntax tree (Vite's parser, so comments and
 * strings that merely look like imports are not taken for them): static imports (`import type`
 * included), `export … from`, dynamic `import('…')`, `new URL('…', import.meta.url)` for workers and
 * assets, `/// <reference path>` directives for ambient declarations, and the module scripts of the HTML pages. Enough to answer "which files of src/ does
 * nothing use" and "where are the import cycles" without a bundler; bare specifiers (packages,
 * `node:`) are left out. A computed dynamic import or URL is refused by name: the graph cannot follow it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { type ESTree, parseSync, Visitor } from 'vite';

const SOURCE = /\.(ts|mts|mjs|js|html)$/;

const HTML_SCRIPT = /<script\b[^>]*\bsrc="([^"]+)"/g;
/** A triple-slash directive naming an ambient declaration file (TypeScript reads it; no import does). */
const REFERENCE_PATH = /^\/\/\/\s*<reference\s+path="([^"]+)"\s*\/>/gm;
const ASSEMBLYSCRIPT = /^src\/cpu-engine\/kernels\//;
const HTML_COMMENT = /<!--[\s\S]*?-->/g;

/** The text of a string literal or a template literal without expressions; null for anything computed. */
function constantString(node: ESTree.Expression): string | null {
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0)
    return node.quasis[0]?.value.cooked ?? null;
  return null;
}

const isImportMetaUrl = (node: ESTree.Node | undefined): boolean =>
  node?.type === 'MemberExpression' &&
  node.object.type === 'MetaProperty' &&
  node.property.type === 'Identifier' &&
  node.property.name === 'url';

/** Every module specifier `file` names in its code (not in its comments or strings). */
function moduleSpecifiers(file: string, text: string): string[] {
  const parsed = parseSync(file, text);
  if (parsed.errors.length > 0) throw new Error(`${file} does not parse: ${parsed.errors[0]!.message}`);
  const specs: string[] = [];
  const computed = (what: string) => {
    throw new Error(`${file} has a ${what} with a computed specifier, which the source graph cannot follow`);
  };
  new Visitor({
    ImportDeclaration: (node) => void specs.push(node.source.value),
    ExportNamedDeclaration: (node) => void (node.source && specs.push(node.source.value)),
    ExportAllDeclaration: (node) => void specs.push(node.source.value),
    ImportExpression: (node) => {
      const spec = constantString(node.source);
      if (spec === null) computed('dynamic import()');
      else specs.push(spec);
    },
    NewExpression: (node) => {
      if (node.callee.type !== 'Identifier' || node.callee.name !== 'URL') return;
      if (!isImportMetaUrl(node.arguments[1] as ESTree.Node | undefined)) return;
      const spec = constantString(node.arguments[0] as ESTree.Expression);
      if (spec === null) computed('new URL(…, import.meta.url)');
      else specs.push(spec);
    },
  }).visit(parsed.program);
  for (const m of text.matchAll(REFERENCE_PATH)) specs.push(m[1]!);
  return specs;
}

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
  // AssemblyScript (the CPU engine's kernels): compiled by asc, not a module of the project's realms.
  if (ASSEMBLYSCRIPT.test(file)) return [];
  const abs = join(root, file);
  const text = readFileSync(abs, 'utf8');
  const specs = file.endsWith('.html')
    ? [...text.replace(HTML_COMMENT, '').matchAll(HTML_SCRIPT)].map((m) => m[1]!)
    : moduleSpecifiers(file, text);
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
