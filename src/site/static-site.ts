/**
 * Writes the static site of `edgetier build`: a built app (Vite output) plus what any web host needs
 * to serve it with no edgetier process behind it:
 * - models/<name>/ copied from the --models dirs and models/index.json describing them (the list
 *   `edgetier serve` computes per request, written once: twins keep their labels);
 * - edgetier.config.json (src/core/site-config.ts), kept when the output already holds one, so a
 *   presenter's edits survive a rebuild;
 * - sw.js: src/site/service-worker.js with this build's id and file lists (isolation + offline);
 * - _headers: COOP/COEP for Netlify/Cloudflare-Pages-style hosts.
 * The site is assembled in a sibling folder and swapped in by renames, so a web server serving DIR
 * never serves a half-written site.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, parse, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_MODELS } from '../core/catalog.ts';
import { EdgetierError } from '../core/errors.ts';
import {
  parseSiteConfig,
  SITE_CONFIG_FILE,
  SITE_CONFIG_VERSION,
  type SiteConfig,
  unknownModelError,
} from '../core/site-config.ts';
import {
  describeModelFolder,
  FOLDER_NAME,
  type ModelFolder,
  type ModelIndexEntry,
} from '../server/model-index.ts';

const SERVICE_WORKER_SOURCE = fileURLToPath(new URL('./service-worker.js', import.meta.url));

/** What the site's `_headers` file says (Netlify, Cloudflare Pages and hosts that read the format). */
export const HEADERS_FILE = `/*
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
  Cross-Origin-Resource-Policy: same-origin
/sw.js
  Cache-Control: no-cache
/edgetier.config.json
  Cache-Control: no-cache
/models/index.json
  Cache-Control: no-cache
`;

/**
 * Files of the app build that are not published: the engine test page, a build stamp, and what a
 * site already holds when --app is a previous site (this build writes those afresh).
 */
const NOT_PUBLISHED = new Set([
  'engine.html',
  '.sources-mtime',
  'sw.js',
  '_headers',
  'models',
  SITE_CONFIG_FILE,
]);
/** Written per build or network-first: never precached. */
const NOT_PRECACHED = new Set(['sw.js', '_headers', SITE_CONFIG_FILE, 'models/index.json']);

export interface StaticSiteOptions {
  /** The built app (a Vite output folder holding index.html). */
  appDir: string;
  out: string;
  modelDirs: string[];
  say?: (line: string) => void;
}

export interface StaticSiteResult {
  buildId: string;
  models: string[];
  config: SiteConfig;
  /** True when the output's previous edgetier.config.json was kept. */
  configKept: boolean;
}

function walk(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path, root));
    else if (entry.isFile()) out.push(relative(root, path).split(sep).join('/'));
  }
  return out.sort();
}

/** The config a fresh build gets: its published models first, the first one selected, no tiers. */
export function defaultSiteConfig(models: readonly string[]): SiteConfig {
  return {
    version: SITE_CONFIG_VERSION,
    about:
      'Edit freely after the build (README.md, section "Deploy"): offerFirst = models listed first ' +
      '(folder names under models/ or Hub ids), defaultModel = the one selected on a first visit, ' +
      'tiers = remote OpenAI-compatible endpoints {name, baseUrl, model, priceInPerMTok, priceOutPerMTok}. ' +
      'Never put an API key here: this file is public.',
    offerFirst: [...models],
    defaultModel: models[0] ?? null,
    tiers: [],
  };
}

function readConfig(file: string): SiteConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new EdgetierError(
      'bad_request',
      `${file} is not valid JSON (${error instanceof Error ? error.message : String(error)}); fix or delete it.`,
    );
  }
  return parseSiteConfig(raw);
}

/** The first line of every sw.js a build writes; the next one defines BUILD. */
const WORKER_STAMP = '// edgetier build ';

/**
 * The files of `out` that no edgetier build wrote (its sw.js lists what it wrote; models/ is the
 * build's own): the build replaces the folder as a whole, so each of these would be deleted.
 */
function foreignFiles(out: string): string[] {
  let owned: Set<string> | null = null;
  const worker = join(out, 'sw.js');
  if (existsSync(worker)) {
    const [stamp, build] = readFileSync(worker, 'utf8').split('\n', 2);
    const json = build?.match(/^const BUILD = (.*);$/)?.[1];
    if (stamp?.startsWith(WORKER_STAMP) && json) {
      try {
        const written = JSON.parse(json) as { precache: string[]; lazy: string[] };
        owned = new Set([...written.precache, ...written.lazy, 'sw.js', '_headers', SITE_CONFIG_FILE]);
      } catch {
        owned = null;
      }
    }
  }
  const found: string[] = [];
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      const rel = relative(out, path).split(sep).join('/');
      if (owned && rel === 'models' && entry.isDirectory()) continue;
      if (entry.isDirectory()) visit(path);
      else if (!owned?.has(rel)) found.push(rel);
    }
  };
  visit(out);
  return found;
}

/** Where the site goes: refused when that would delete files no build wrote. */
function siteTarget(requested: string): string {
  const trimmed = requested.replace(/[/\\]+$/, '');
  if (trimmed === '' || parse(requested).root === requested)
    throw new EdgetierError(
      'usage',
      `--out ${requested} is the root of the filesystem; choose a folder for the site.`,
    );
  // A symlink (a web root pointing at a release folder) stays a symlink: the site goes where it points.
  const out = existsSync(trimmed) ? realpathSync(trimmed) : trimmed;
  if (!existsSync(out)) return out;
  if (!statSync(out).isDirectory())
    throw new EdgetierError('io_error', `--out ${out} exists and is not a folder.`);
  const foreign = foreignFiles(out);
  if (foreign.length > 0) {
    throw new EdgetierError(
      'usage',
      `--out ${requested} holds "${foreign[0]}", which edgetier build did not write. The build replaces ` +
        'that folder as a whole: choose a new or empty folder, or move the file out first.',
    );
  }
  return out;
}

/**
 * The model folders of the --models dirs, each a folder holding config.json (a symlinked folder
 * counts). Whatever the build cannot publish exactly is refused by name: a missing dir, one with no
 * model folder, two folders of one name, a name a URL cannot carry.
 */
function modelFoldersToPublish(dirs: readonly string[]): ModelFolder[] {
  const byName = new Map<string, ModelFolder>();
  for (const dir of new Set(dirs.map((d) => (existsSync(d) ? realpathSync(d) : d)))) {
    if (!existsSync(dir)) throw new EdgetierError('usage', `--models ${dir} does not exist.`);
    if (!statSync(dir).isDirectory()) throw new EdgetierError('usage', `--models ${dir} is not a folder.`);
    if (existsSync(join(dir, 'config.json'))) {
      throw new EdgetierError(
        'usage',
        `--models ${dir} is a model folder itself; pass the folder that holds it (${dirname(dir)}).`,
      );
    }
    let found = 0;
    for (const name of readdirSync(dir).sort()) {
      const folder = join(dir, name);
      if (name.startsWith('.') || !existsSync(join(folder, 'config.json'))) continue;
      if (!statSync(folder).isDirectory()) continue;
      if (!FOLDER_NAME.test(name)) {
        throw new EdgetierError(
          'usage',
          `--models ${dir}: the model folder "${name}" has a name a URL cannot carry as is ` +
            '(letters, digits, ".", "_" and "-" only, not starting with "."); rename it.',
        );
      }
      const same = byName.get(name);
      if (same) {
        throw new EdgetierError(
          'usage',
          `two model folders are named "${name}" (${same.dir} and ${folder}); rename one.`,
        );
      }
      byName.set(name, { name, dir: folder });
      found++;
    }
    if (found === 0)
      throw new EdgetierError(
        'usage',
        `--models ${dir} holds no model folder (a folder with a config.json).`,
      );
  }
  return [...byName.values()];
}

/**
 * Copies a model folder as plain files: a symlinked file (the Hub cache's snapshots link into
 * blobs/) is published as its contents, since hosts do not follow links out of a site and a local
 * server would follow one anywhere. A symlink to a folder or to nothing is refused by name.
 */
function copyModelFolder(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (name.startsWith('.')) continue; // dot files: a build in progress, VCS data
    const source = join(from, name);
    const target = join(to, name);
    const link = lstatSync(source).isSymbolicLink();
    if (link && !existsSync(source))
      throw new EdgetierError('io_error', `${source} is a symlink to nothing.`);
    const stats = statSync(source);
    if (stats.isDirectory()) {
      if (link) {
        throw new EdgetierError(
          'usage',
          `${source} is a symlink to a folder; a site publishes files only: copy what it needs instead.`,
        );
      }
      copyModelFolder(source, target);
    } else if (stats.isFile()) copyFileSync(source, target);
  }
}

export async function writeStaticSite(options: StaticSiteOptions): Promise<StaticSiteResult> {
  const say = options.say ?? (() => {});
  if (!existsSync(join(options.appDir, 'index.html')))
    throw new EdgetierError('config_missing', `${options.appDir} holds no built app (no index.html).`);
  const out = siteTarget(options.out);
  const appDir = realpathSync(options.appDir);
  const inApp = relative(appDir, out);
  if (inApp !== '' && !inApp.startsWith('..') && !isAbsolute(inApp)) {
    throw new EdgetierError(
      'usage',
      `--out ${options.out} is inside the app folder ${options.appDir}, which it would copy into itself; choose a folder outside it.`,
    );
  }
  const folders = modelFoldersToPublish(options.modelDirs);
  const staging = `${out}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    cpSync(options.appDir, staging, {
      recursive: true,
      filter: (src) => !NOT_PUBLISHED.has(relative(options.appDir, src)),
    });

    // Models: copied, then described from the copy (what is published is what is listed).
    const models: ModelIndexEntry[] = [];
    for (const folder of folders) {
      const target = join(staging, 'models', folder.name);
      copyModelFolder(folder.dir, target);
      const entry = await describeModelFolder({ name: folder.name, dir: target });
      // Relative to the page, so the site also works under a sub-path (GitHub Pages project sites).
      entry.url = `models/${encodeURIComponent(folder.name)}/`;
      models.push(entry);
      say(
        `  model ${folder.name}${entry.synthetic ? ' (synthetic twin)' : ''}: ${(entry.totalBytes / 1e6).toFixed(1)} MB`,
      );
    }
    mkdirSync(join(staging, 'models'), { recursive: true });
    writeFileSync(join(staging, 'models', 'index.json'), `${JSON.stringify({ models }, null, 2)}\n`);

    const previous = join(out, SITE_CONFIG_FILE);
    const configKept = existsSync(previous);
    const config = configKept ? readConfig(previous) : defaultSiteConfig(models.map((m) => m.name));
    const known = new Set([...models.map((m) => m.name), ...BUILTIN_MODELS.map((m) => m.key)]);
    const unknown = unknownModelError(config, known);
    if (unknown) throw new EdgetierError('bad_request', `${unknown} Edit ${previous} or delete it.`);
    writeFileSync(join(staging, SITE_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
    writeFileSync(join(staging, '_headers'), HEADERS_FILE);

    // The service worker: this build's id is a hash of every shell file, so any change is a new version.
    const files = walk(staging).filter((f) => !f.startsWith('models/') && !NOT_PRECACHED.has(f));
    // ORT's .wasm files (14-27 MB each) are cached when first used; the CPU engine's kernels (a few
    // KB, assets/kernels-<hash>.wasm) are the app's own, precached so the engine loads offline even
    // when this visitor never used it online.
    const isLazy = (f: string) => f.endsWith('.wasm') && !/(^|\/)kernels-[^/]*\.wasm$/.test(f);
    const lazy = files.filter(isLazy);
    const precache = files.filter((f) => !isLazy(f));
    const hash = createHash('sha256');
    for (const file of files)
      hash
        .update(file)
        .update('\0')
        .update(readFileSync(join(staging, file)));
    const buildId = hash.digest('hex').slice(0, 16);
    const worker = readFileSync(SERVICE_WORKER_SOURCE, 'utf8');
    writeFileSync(
      join(staging, 'sw.js'),
      `${WORKER_STAMP}${buildId}: generated by \`edgetier build\`; the source is src/site/service-worker.js.\n` +
        `const BUILD = ${JSON.stringify({ id: buildId, precache: ['index.html', ...precache.filter((f) => f !== 'index.html')], lazy })};\n${worker}`,
    );

    // Swap in: DIR -> DIR.old-<pid>, staging -> DIR, then drop the old one.
    const old = `${out}.old-${process.pid}`;
    if (existsSync(out)) renameSync(out, old);
    renameSync(staging, out);
    rmSync(old, { recursive: true, force: true });
    return { buildId, models: models.map((m) => m.name), config, configKept };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}
