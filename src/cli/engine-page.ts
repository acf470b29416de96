/**
 * Builds the engine test page (engine.html + the engine worker) with Vite, once per change of its
 * sources, and serves it with model folders on 127.0.0.1: cross-origin isolated (COOP/COEP), HTTP
 * Range support (resumable downloads), ETags; the app's Content-Security-Policy on its pages and the
 * same inert-data rules for model folders as `edgetier serve` (model file types only, sandboxed). Used by `edgetier generate --device wasm|webgpu`, the
 * browser tests and the benchmarks.
 */
import { createReadStream, existsSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_CSP } from '../server/content-security-policy.ts';
import { modelFileHeaders, modelFileType } from '../server/static-files.ts';
import { newestMtime } from './newest-mtime.ts';
import { versionedBuild } from './versioned-build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILDS_DIR = join(ROOT, 'node_modules/.cache/edgetier/engine-pages');
/** What the engine page's build reads: every file engine.html and vite.config.ts reach (start.test.ts). */
export const ENGINE_PAGE_SOURCES = [
  'engine.html',
  'vite.config.ts',
  'workers',
  'src/core',
  'src/client',
  'src/runtime',
  'src/remote',
  'src/cpu-engine',
  'src/builder',
  'src/server/content-security-policy.ts',
  'src/server/static-files.ts',
  'src/server/api-error.ts',
  'src/server/mime.ts',
  'package.json',
];

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css',
};

/**
 * The built engine page's folder, one per state of its sources (versioned-build.ts): rebuilt only
 * when a source changed since the last build, and never swapped under a process serving the last.
 */
export async function buildEnginePage(): Promise<string> {
  const newest = Math.max(...ENGINE_PAGE_SOURCES.map((path) => newestMtime(join(ROOT, path))));
  // The single folder of earlier versions, swapped in place.
  rmSync(join(ROOT, 'node_modules/.cache/edgetier/engine-dist'), { recursive: true, force: true });
  return versionedBuild(BUILDS_DIR, newest, async (outDir) => {
    const { build } = await import('vite');
    await build({
      root: ROOT,
      configFile: join(ROOT, 'vite.config.ts'),
      mode: 'engine',
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
    });
  });
}

export interface EnginePageServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  /** Serves another model folder at /models/<name>/. */
  addModel(name: string, dir: string): string;
  close(): Promise<void>;
}

export interface EnginePageOptions {
  /** Model folders by URL name, served at /models/<name>/. */
  models?: Record<string, string>;
  /** Runs first for every request; returning true means it answered (tests inject faults here). */
  intercept?: (request: IncomingMessage, response: ServerResponse) => boolean;
  /**
   * The app's Content-Security-Policy on the pages (default true). The stock transformers.js page of
   * `bench --baseline` goes without it: it is measured as a visitor's stock page, and ORT there loads
   * its wasm glue through a blob: module import that the app's policy refuses.
   */
  appCsp?: boolean;
}

/** Sends a file with Range support: 206 for `bytes=N-` / `bytes=N-M`, 416 when out of bounds. */
function sendFile(
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  extra: Record<string, string>,
): void {
  const stat = statSync(path);
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const headers: Record<string, string> = {
    ...HEADERS,
    'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
    ...extra,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Cache-Control': 'no-cache',
  };
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
  const ifRange = request.headers['if-range'];
  if (range && (!ifRange || ifRange === etag)) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), stat.size - 1) : stat.size - 1;
    if (start >= stat.size || start > end) {
      response.writeHead(416, { ...headers, 'Content-Range': `bytes */${stat.size}` }).end();
      return;
    }
    response.writeHead(206, {
      ...headers,
      'Content-Length': String(end - start + 1),
      'Content-Range': `bytes ${start}-${end}/${stat.size}`,
    });
    if (request.method === 'HEAD') response.end();
    else createReadStream(path, { start, end }).pipe(response);
    return;
  }
  response.writeHead(200, { ...headers, 'Content-Length': String(stat.size) });
  if (request.method === 'HEAD') response.end();
  else createReadStream(path).pipe(response);
}

/** Percent-decoded, or null: thrown in the request handler, a URIError would end the process. */
function decoded(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** A path inside `base`, or null when the request tries to leave it or is not valid percent-encoding. */
function inside(base: string, relative: string): string | null {
  const path = decoded(relative);
  if (path === null) return null;
  const full = normalize(join(base, path));
  return full === base || full.startsWith(base + sep) ? full : null;
}

/** `file` when, links followed, it stays inside `base` (a model folder's link may name any file). */
function realInside(base: string, file: string): string | null {
  try {
    const real = realpathSync(file);
    const root = realpathSync(base);
    return real.startsWith(root + sep) ? real : null;
  } catch {
    return null;
  }
}

export async function serveEnginePage(
  distDir: string,
  options: EnginePageOptions = {},
): Promise<EnginePageServer> {
  const models = new Map(Object.entries(options.models ?? {}).map(([k, v]) => [k, resolve(v)]));
  const server: Server = createServer((request, response) => {
    if (options.intercept?.(request, response)) return;
    const url = new URL(request.url ?? '/', 'http://localhost');
    let path: string | null;
    let extra: Record<string, string> =
      options.appCsp === false ? {} : { 'Content-Security-Policy': APP_CSP };
    const model = /^\/models\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (model) {
      const dir = models.get(decoded(model[1]!) ?? '');
      path = dir ? inside(dir, model[2]!) : null;
      if (dir && path) path = realInside(dir, path);
      // A model folder is data: only model file types, never a page on this origin.
      const type = path ? modelFileType(path) : null;
      if (!type) path = null;
      else extra = { ...modelFileHeaders(type), 'Content-Type': type };
    } else {
      path = inside(distDir, url.pathname === '/' ? 'engine.html' : url.pathname.slice(1));
    }
    if (!path || !existsSync(path) || statSync(path).isDirectory()) {
      response.writeHead(404, { ...HEADERS, 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    sendFile(request, response, path, extra);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    addModel(name, dir) {
      models.set(name, resolve(dir));
      return `${origin}/models/${encodeURIComponent(name)}`;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
