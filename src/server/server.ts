/**
 * `edgetier serve`: one node:http server for the built app, the model folders and the tier API.
 *
 *   GET  /v1/models               the native tier's model and/or the upstream's models
 *   POST /v1/chat/completions     streaming and not, OpenAI wire and error format
 *   GET  /models/index.json       every model folder in the --models dirs
 *   GET  /models/<name>/<file>    the folders' model files (ETag, Range), as inert data
 *   GET  /edgetier.config.json    204 (a static build's config: this server has none), unless dist/ holds one
 *   GET  /healthz                 {"ok": true, "native": "loading" | "ready" | "failed" | null}
 *   GET  /*                       the built app (dist/), index.html for app routes
 *
 * Every response carries COOP/COEP/CORP so the page is cross-origin isolated (wasm threads), and
 * the app's Content-Security-Policy (model folder files get a sandbox instead). API
 * POSTs must be `application/json`, which a cross-site page cannot send without a CORS preflight
 * this server never grants, and the Host header must be a loopback literal, the bound address or an
 * --allowed-host name (no DNS rebinding): both keep other web pages from spending the upstream key. Logs carry method, path,
 * status, model and timing; never a prompt, a body or a key.
 */
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { EdgetierError } from '../core/errors.ts';
import { SITE_CONFIG_FILE } from '../core/site-config.ts';
import type { ModelList, WireModel } from '../remote/openai-wire.ts';
import { ApiError, shuttingDownError } from './api-error.ts';
import { handleChat, sendApiError, toApiError } from './chat-handler.ts';
import { validateChatRequest } from './chat-request.ts';
import { APP_CSP } from './content-security-policy.ts';
import { findModelFolders, modelIndex } from './model-index.ts';
import { modelFileHeaders, modelFileType, realPathInside, resolveInside, serveFile } from './static-files.ts';
import type { Tier } from './tier.ts';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;
/** After the grace period, how long cut requests get to report the cut before connections close. */
const CUT_REPORT_MS = 2000;

export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The built app (dist/); null or missing shows a page that says how to build it. */
  appDir: string | null;
  modelDirs: string[];
  /** The native tier (or a stand-in while its model is built); replaceable with `setNative`. */
  native: Tier | null;
  upstream: Tier | null;
  maxBodyBytes?: number;
  shutdownGraceMs?: number;
  /** Host names (besides loopback literals and the bound address) the server answers to. */
  allowedHosts?: string[];
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  /** Swaps the native tier (e.g. once its model is built); the old one is closed. */
  setNative(tier: Tier | null): Promise<void>;
  /** Stops accepting, lets running requests finish within the grace period, then cuts them. */
  close(): Promise<void>;
}

/** Every response; model folder files replace the CSP with their sandbox. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': APP_CSP,
};

/** `..` as a path segment, plain or percent-encoded, with / or \\ (encoded or not) around it. */
const DOT_SEGMENT = /(^|\/|%2f|%5c|\\)(\.|%2e){2}($|\/|%2f|%5c|\\)/i;

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
/** A full dotted-quad in 127.0.0.0/8: `127.attacker.example` or `127.0.0.1.nip.io` are names, not this. */
const IPV4_LOOPBACK = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** A loopback literal: `localhost`, `[::1]` (or `::1` as a bind address), an IPv4 in 127.0.0.0/8. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '[::1]' || h === '::1' || IPV4_LOOPBACK.test(h);
}

/** The Host header without its port; null when it is not `name`, `name:port`, `[v6]` or `[v6]:port`. */
export function hostname(hostHeader: string): string | null {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/i.exec(hostHeader);
  return match ? (match[1] as string).toLowerCase() : null;
}

/**
 * Whether a request's Host header names this server. A page on a name its owner re-points at
 * 127.0.0.1 (DNS rebinding) sends that name, so only loopback literals, the bound address itself and
 * the names the operator allowed (--allowed-host) pass; every other name gets 421.
 */
export function hostAllowed(hostHeader: string, bindHost: string, allowedHosts: readonly string[]): boolean {
  const name = hostname(hostHeader);
  if (name === null) return false;
  if (isLoopback(name)) return true;
  const bound = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost;
  if (!['0.0.0.0', '[::]'].includes(bound) && name === bound.toLowerCase()) return true;
  return allowedHosts.some((allowed) => allowed.toLowerCase() === name);
}

/**
 * The host a request is for: the authority of an absolute-form target (`GET http://name/ HTTP/1.1`,
 * which replaces Host, RFC 9112 3.2.2), else the Host header.
 */
function requestHost(req: IncomingMessage): string {
  const target = req.url ?? '/';
  if (target.startsWith('/') || target === '*') return req.headers.host ?? '';
  try {
    return new URL(target).host;
  } catch {
    return '';
  }
}

/** What the Host check lets through, for the start-up line. */
export function describeAllowedHosts(bindHost: string, allowedHosts: readonly string[]): string {
  const names = ['localhost', '127.0.0.0/8', '[::1]'];
  const bound = bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  if (!isLoopback(bindHost) && !['0.0.0.0', '[::]'].includes(bound)) names.push(bound);
  return [...names, ...allowedHosts.filter((h) => !names.includes(h))].join(', ');
}

/** Reads a JSON body up to `limit` bytes; 413 past it, 400 for bad JSON. */
function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () =>
      new ApiError(
        413,
        `The request body is larger than ${limit} bytes, the limit of this server (--max-body).`,
        'invalid_request_error',
        'body_too_large',
      );
    if (declared > limit) {
      reject(tooLarge());
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLarge());
        return;
      }
      parts.push(part);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
      } catch (error) {
        reject(
          new ApiError(
            400,
            `The request body is not valid JSON (${error instanceof Error ? error.message : String(error)}).`,
            'invalid_request_error',
            'invalid_json',
          ),
        );
      }
    });
    req.on('error', reject);
  });
}

const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>edgetier</title>
<body>
<h1>edgetier serve is running</h1>
<p>The app is not built yet. Run <code>npm start</code> (it builds the app), or <code>npx vite build</code>,
then reload. The API is up: <a href="/v1/models">/v1/models</a>, <a href="/models/index.json">/models/index.json</a>.</p>
</body>`;

export async function startServer(serverOptions: ServerOptions): Promise<RunningServer> {
  const options = { ...serverOptions };
  const log = options.log ?? (() => {});
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const active = new Set<AbortController>();
  const allowedHosts = options.allowedHosts ?? [];
  let closing = false;

  async function listModels(): Promise<ModelList> {
    const data: WireModel[] = [];
    if (options.native) data.push(...(await options.native.models()));
    if (options.upstream) {
      const seen = new Set(data.map((m) => m.id));
      for (const m of await options.upstream.models()) if (!seen.has(m.id)) data.push(m);
    }
    return { object: 'list', data };
  }

  async function tierFor(model: string): Promise<Tier> {
    if (options.native && (await options.native.handles(model))) return options.native;
    if (options.upstream && (await options.upstream.handles(model))) return options.upstream;
    const offered = (await listModels()).data.map((m) => m.id);
    throw new ApiError(
      404,
      `The model \`${model}\` does not exist here. Models offered: ${offered.join(', ') || 'none'} (GET /v1/models).`,
      'not_found_error',
      'model_not_found',
      'model',
    );
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<string | undefined> {
    if (path === '/v1/models') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req, 'GET');
      const body = JSON.stringify(await listModels());
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return undefined;
    }
    if (path !== '/v1/chat/completions') {
      throw new ApiError(
        404,
        `Unknown API route ${path}. This server offers GET /v1/models and POST /v1/chat/completions.`,
        'not_found_error',
        'unknown_route',
      );
    }
    if (req.method !== 'POST') throw methodNotAllowed(req, 'POST');
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      throw new ApiError(
        415,
        `Send the request body as JSON with Content-Type: application/json (got "${type || 'none'}").`,
        'invalid_request_error',
        'unsupported_media_type',
      );
    }
    if (closing) throw new ApiError(503, 'The server is shutting down.', 'server_error', 'shutting_down');
    const request = validateChatRequest(await readJsonBody(req, maxBody));
    const tier = await tierFor(request.model);
    const controller = new AbortController();
    active.add(controller);
    // The client went away before the answer was complete: free its slot at once.
    const onClose = () => {
      if (!res.writableFinished) controller.abort();
    };
    res.on('close', onClose);
    try {
      const outcome = await handleChat(res, request, tier, controller.signal);
      const note = outcome.error ? ` error=${outcome.error.code ?? outcome.error.type}` : '';
      const cut = !controller.signal.aborted
        ? ''
        : controller.signal.reason instanceof ApiError
          ? ' shutdown'
          : ' client-gone';
      return `model=${request.model}${request.stream ? ' stream' : ''} deltas=${outcome.deltas}${cut}${note}`;
    } finally {
      res.off('close', onClose);
      active.delete(controller);
    }
  }

  async function files(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req, 'GET, HEAD');
    if (path === '/models/index.json' || path === '/models/' || path === '/models') {
      const body = JSON.stringify(await modelIndex(options.modelDirs));
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path.startsWith('/models/')) {
      const rest = path.slice('/models/'.length);
      const slash = rest.indexOf('/');
      let name: string;
      try {
        name = decodeURIComponent(slash === -1 ? rest : rest.slice(0, slash));
      } catch {
        throw new ApiError(400, `The path "${path}" is not valid percent-encoding.`);
      }
      const folder = (await findModelFolders(options.modelDirs)).find((f) => f.name === name);
      const file = folder && slash !== -1 ? resolveInside(folder.dir, rest.slice(slash + 1)) : null;
      const type = file ? modelFileType(file) : null;
      const real = folder && file && type ? await realPathInside(folder.dir, file) : null;
      if (!real || !type) throw notFound(path);
      // no-store: the browser engine keeps model files in its own cache (checked by size and SHA-256);
      // Chromium's HTTP cache kept a second copy of every file served with no-cache.
      const served = await serveFile(req, res, real, {
        contentType: type,
        headers: modelFileHeaders(type),
        cacheControl: 'no-store',
      });
      if (!served) throw notFound(path);
      return;
    }
    const app = options.appDir && existsSync(join(options.appDir, 'index.html')) ? options.appDir : null;
    if (!app) {
      if (path === '/' || path === '/index.html') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : NOT_BUILT_PAGE);
        return;
      }
      throw notFound(path);
    }
    const file = resolveInside(app, path === '/' ? 'index.html' : path.slice(1));
    if (!file) throw notFound(path);
    const hashed = path.startsWith('/assets/');
    if (
      await serveFile(req, res, file, hashed ? { cacheControl: 'public, max-age=31536000, immutable' } : {})
    )
      return;
    // App routes (no file extension) get the app's page; missing assets are a plain 404.
    if (!/\.[A-Za-z0-9]+$/.test(path) && (await serveFile(req, res, join(app, 'index.html')))) return;
    // The page asks for a static build's config on every start; this server has none (its own /v1
    // tier is the default): "no content", which the page reads as no config, with no 404 in its console.
    if (path === `/${SITE_CONFIG_FILE}`) {
      res.writeHead(204, { 'Cache-Control': 'no-cache' });
      res.end();
      return;
    }
    throw notFound(path);
  }

  const server = createServer(async (req, res) => {
    const started = Date.now();
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(name, value);
    let path = '/';
    let note: string | undefined;
    try {
      // Origin-form targets are paths (`//x/y` included, which a base URL would read as host x).
      const target = req.url ?? '/';
      const url = new URL(target.startsWith('/') ? `http://localhost${target}` : target, 'http://localhost');
      path = url.pathname;
      // URL parsing folds dot segments away; a request that sends them is probing, not browsing.
      if (DOT_SEGMENT.test((req.url ?? '').split('?')[0] ?? '')) throw notFound(path);
      const hosts = req.headersDistinct.host ?? [];
      if (hosts.length > 1) {
        throw new ApiError(
          400,
          `The request has ${hosts.length} Host headers; send one.`,
          'invalid_request_error',
          'duplicate_host',
        );
      }
      const host = requestHost(req);
      if (!hostAllowed(host, options.host, allowedHosts)) {
        throw new ApiError(
          421,
          `This server answers to ${describeAllowedHosts(options.host, allowedHosts)} only (got Host "${host}"). Name others with --allowed-host.`,
          'invalid_request_error',
          'misdirected_request',
        );
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(
          JSON.stringify({
            ok: true,
            native: options.native?.state ?? null,
            upstream: options.upstream !== null,
          }),
        );
      } else if (path.startsWith('/v1/')) {
        note = await api(req, res, path);
      } else {
        await files(req, res, path);
      }
    } catch (error) {
      const apiError = toApiError(error);
      if (apiError.status >= 500) note = `error=${apiError.message}`;
      if (apiError.status === 413 || apiError.status === 421 || apiError.code === 'duplicate_host')
        res.setHeader('Connection', 'close');
      sendApiError(res, apiError);
    }
    if (path.startsWith('/v1/') || res.statusCode >= 400) {
      log(`${req.method} ${path} ${res.statusCode} ${Date.now() - started}ms${note ? ` ${note}` : ''}`);
    }
  });
  server.requestTimeout = 0; // streams may run long; the tiers have their own limits
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
        const why = error.code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges';
        reject(
          new EdgetierError(
            'usage',
            `Port ${options.port} on ${options.host} ${why}. Pick another with --port N (npm start -- --port N), or 0 for any free port.`,
          ),
        );
      } else reject(error);
    });
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      server.on('error', (error) => log(`server error: ${error.message}`));
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host.includes(':')
    ? `[${options.host}]`
    : options.host === '0.0.0.0'
      ? '127.0.0.1'
      : options.host;
  const url = `http://${shownHost}:${port}/`;

  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const grace = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    const deadline = Date.now() + grace;
    while (active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Cut what is left, with a reason each answer reports (an error response, or a final error
    // event after a stream's partial deltas), and give them a moment to send it.
    for (const controller of active) controller.abort(shuttingDownError());
    const cutDeadline = Date.now() + CUT_REPORT_MS;
    while (active.size > 0 && Date.now() < cutDeadline) await new Promise((r) => setTimeout(r, 20));
    server.closeAllConnections();
    await stopped;
    await options.native?.close();
    await options.upstream?.close();
  }

  async function setNative(tier: Tier | null): Promise<void> {
    const old = options.native;
    options.native = tier;
    if (old && old !== tier) await old.close();
  }

  return { url, port, setNative, close };
}

function methodNotAllowed(req: IncomingMessage, allowed: string): ApiError {
  return new ApiError(
    405,
    `${req.method} is not allowed here; use ${allowed}.`,
    'invalid_request_error',
    'method_not_allowed',
    null,
    {
      Allow: allowed,
    },
  );
}

function notFound(path: string): ApiError {
  return new ApiError(404, `Nothing at ${path}.`, 'not_found_error', 'not_found');
}
