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
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
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
import { describeModelFolder, findModelFolders, type ModelIndexEntry } from '../server/model-index.ts';

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

export async function writeStaticSite(options: StaticSiteOptions): Promise<StaticSiteResult> {
  const say = options.say ?? (() => {});
  if (!existsSync(join(options.appDir, 'index.html')))
    throw new EdgetierError('config_missing', `${options.appDir} holds no built app (no index.html).`);
  const out = options.out.replace(/[/\\]+$/, '');
  const staging = `${out}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    cpSync(options.appDir, staging, {
      recursive: true,
      filter: (src) => !NOT_PUBLISHED.has(relative(options.appDir, src)),
    });

    // Models: copied, then described from the copy (what is published is what is listed).
    const folders = await findModelFolders(options.modelDirs);
    const models: ModelIndexEntry[] = [];
    for (const folder of folders) {
      const target = join(staging, 'models', folder.name);
      cpSync(folder.dir, target, {
        recursive: true,
        filter: (src) =>
          !relative(folder.dir, src)
            .split(sep)
            .some((part) => part.startsWith('.')),
      });
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
    const lazy = files.filter((f) => f.endsWith('.wasm'));
    const precache = files.filter((f) => !f.endsWith('.wasm'));
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
      `// edgetier build ${buildId}: generated by \`edgetier build\`; the source is src/site/service-worker.js.\n` +
        `const BUILD = ${JSON.stringify({ id: buildId, precache: ['index.html', ...precache.filter((f) => f !== 'index.html')], lazy })};\n${worker}`,
    );

    // Swap in: DIR -> DIR.old-<pid>, staging -> DIR, then drop the old one.
    const old = `${out}.old-${process.pid}`;
    if (existsSync(out)) {
      if (!statSync(out).isDirectory())
        throw new EdgetierError('io_error', `${out} exists and is not a folder.`);
      renameSync(out, old);
    }
    renameSync(staging, out);
    rmSync(old, { recursive: true, force: true });
    return { buildId, models: models.map((m) => m.name), config, configKept };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}
