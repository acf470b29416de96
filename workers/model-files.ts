/**
 * Where model files come from and where they are kept, on the worker side:
 * - points transformers.js at the source (a Hub id or mirror, a folder on edgetier's server, or a
 *   folder the visitor picked from disk) through its `env`;
 * - fetches through `modelFetch`, which records the URL and status of the last failure (for errors
 *   a person can act on) and resumes a download that broke off with an HTTP Range request, within
 *   one load and across a retried load;
 * - keeps files in edgetier's own Cache API store, so cached models can be listed with their sizes,
 *   deleted one by one or all at once.
 */
import type { ModelFacts } from '../src/core/backend-plan.ts';
import { DTYPE_FILE, DTYPES, type Dtype } from '../src/core/dtypes.ts';
import type { CachedModel } from '../src/core/engine.ts';
import type { BlobLike, BrowserModelSource } from '../src/core/engine-protocol.ts';
import { EdgetierError } from '../src/core/errors.ts';

export const MODEL_CACHE_NAME = 'edgetier-models';
export const DEFAULT_REMOTE_HOST = 'https://huggingface.co/';
/** Where picked files appear to transformers.js; served from memory by the custom cache. */
const PICKED_PREFIX = 'https://picked.edgetier.invalid/';
/** Times one download is resumed before it fails. */
const MAX_RESUMES = 3;
const HUB_PATH_TEMPLATE = '{model}/resolve/{revision}/';

/** The subset of transformers.js's `env` this module sets. */
export interface TransformersEnv {
  allowLocalModels: boolean;
  allowRemoteModels: boolean;
  localModelPath: string;
  remoteHost: string;
  remotePathTemplate: string;
  useBrowserCache: boolean;
  useCustomCache: boolean;
  customCache: unknown;
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
}

export interface HttpFailure {
  url: string;
  status: number;
}

interface PartialDownload {
  chunks: Uint8Array[];
  received: number;
  total: number;
  validator: string | null;
}

/** fetch with failure tracking and Range resume. */
export class ModelFetcher {
  lastFailure: HttpFailure | null = null;
  private readonly partials = new Map<string, PartialDownload>();

  constructor(private readonly baseFetch: typeof fetch = (...args) => fetch(...args)) {}

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init?.headers);
    // Requests that manage ranges themselves (transformers.js probes sizes with bytes=0-0) or that
    // are not plain downloads pass through untouched.
    if (headers.has('Range') || (init?.method && init.method !== 'GET')) return this.tracked(url, init);
    const partial = this.partials.get(url);
    if (partial) {
      headers.set('Range', `bytes=${partial.received}-`);
      if (partial.validator) headers.set('If-Range', partial.validator);
    }
    let response: Response;
    try {
      response = await this.baseFetch(url, { ...init, headers });
    } catch (error) {
      this.lastFailure = { url, status: 0 };
      throw error;
    }
    if (!response.ok) {
      this.lastFailure = { url, status: response.status };
      return response;
    }
    const resumed = partial && response.status === 206 ? partial : null;
    if (partial && !resumed) this.partials.delete(url); // the server sent the whole file again
    const total = resumed ? resumed.total : Number(response.headers.get('content-length') ?? 0);
    const ranges =
      resumed !== null || (response.status === 200 && response.headers.get('accept-ranges') === 'bytes');
    if (!response.body || !ranges || !total) return response;
    const state: PartialDownload = resumed ?? {
      chunks: [],
      received: 0,
      total,
      validator: response.headers.get('etag') ?? response.headers.get('last-modified'),
    };
    this.partials.delete(url);
    return new Response(this.resumingStream(url, response.body, state, init), {
      status: 200,
      headers: {
        'content-length': String(total),
        'content-type': response.headers.get('content-type') ?? 'application/octet-stream',
      },
    });
  };

  private async tracked(url: string, init?: RequestInit): Promise<Response> {
    try {
      const response = await this.baseFetch(url, init);
      if (!response.ok) this.lastFailure = { url, status: response.status };
      return response;
    } catch (error) {
      this.lastFailure = { url, status: 0 };
      throw error;
    }
  }

  private resumingStream(
    url: string,
    body: ReadableStream<Uint8Array>,
    state: PartialDownload,
    init?: RequestInit,
  ) {
    let reader = body.getReader();
    let resumes = 0;
    const earlier = [...state.chunks];
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const replay = earlier.shift();
        if (replay) {
          controller.enqueue(replay);
          return;
        }
        for (;;) {
          try {
            const { done, value } = await reader.read();
            if (done) {
              if (state.received < state.total) throw new Error('the connection closed early');
              controller.close();
              return;
            }
            state.chunks.push(value);
            state.received += value.byteLength;
            controller.enqueue(value);
            return;
          } catch (error) {
            const next = resumes < MAX_RESUMES ? await this.reopen(url, state, init) : null;
            resumes++;
            if (next) {
              reader = next.getReader();
              continue;
            }
            this.partials.set(url, state);
            this.lastFailure = { url, status: 0 };
            controller.error(
              new EdgetierError(
                'download_failed',
                `Download failed: ${url} broke off after ${state.received} of ${state.total} bytes ` +
                  `(${error instanceof Error ? error.message : error}). Retry the load: it resumes where it stopped.`,
              ),
            );
            return;
          }
        }
      },
    });
  }

  private async reopen(url: string, state: PartialDownload, init?: RequestInit) {
    const headers = new Headers(init?.headers);
    headers.set('Range', `bytes=${state.received}-`);
    if (state.validator) headers.set('If-Range', state.validator);
    try {
      const response = await this.baseFetch(url, { ...init, headers });
      return response.status === 206 && response.body ? response.body : null;
    } catch {
      return null;
    }
  }
}

/** Serves picked files from memory and everything else from edgetier's Cache API store. */
export class ModelCache {
  picked = new Map<string, BlobLike>();
  constructor(public enabled: boolean) {}

  async match(key: string): Promise<Response | undefined> {
    const file = this.picked.get(key);
    if (file) {
      return new Response(await file.arrayBuffer(), { headers: { 'content-length': String(file.size) } });
    }
    if (!this.enabled || key.startsWith(PICKED_PREFIX)) return undefined;
    return (await caches.open(MODEL_CACHE_NAME)).match(key);
  }

  async put(key: string, response: Response): Promise<void> {
    if (!this.enabled || key.startsWith(PICKED_PREFIX)) return;
    await (await caches.open(MODEL_CACHE_NAME)).put(key, response);
  }
}

/** Points transformers.js at a source; returns the model id to pass to it. */
export function applySource(
  env: TransformersEnv,
  source: BrowserModelSource,
  cache: ModelCache,
  remoteHost: string,
  origin: string,
): string {
  cache.picked.clear();
  // Folders are fetched as "remote" files under their parent URL: transformers.js skips its local
  // path for absolute URLs, and this also serves folders on another host.
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  switch (source.kind) {
    case 'hub':
      env.remoteHost = source.host ?? remoteHost;
      env.remotePathTemplate = HUB_PATH_TEMPLATE;
      return source.id;
    case 'url': {
      const url = new URL(source.url, origin).href.replace(/\/+$/, '');
      const cut = url.lastIndexOf('/');
      env.remoteHost = `${url.slice(0, cut)}/`;
      env.remotePathTemplate = '{model}/';
      return url.slice(cut + 1);
    }
    case 'files': {
      const name = source.name.replace(/[^\w.-]/g, '_') || 'picked';
      for (const { path, blob } of source.files) {
        const relative = path
          .split('/')
          .slice(path.includes('/') ? 1 : 0)
          .join('/');
        cache.picked.set(`${PICKED_PREFIX}${name}/${relative}`, blob);
      }
      env.remoteHost = PICKED_PREFIX;
      env.remotePathTemplate = '{model}/';
      return name;
    }
    case 'path':
      throw new EdgetierError(
        'bad_request',
        'A path on disk cannot be opened from the browser: serve the folder with `edgetier serve` and load ' +
          'its URL, or pick the folder with the file picker.',
      );
  }
}

/** The URL of a file of a source, for HEAD probes. */
function fileUrl(
  source: BrowserModelSource,
  file: string,
  remoteHost: string,
  origin: string,
): string | null {
  if (source.kind === 'hub')
    return `${(source.host ?? remoteHost).replace(/\/+$/, '')}/${source.id}/resolve/main/${file}`;
  if (source.kind === 'url') return `${new URL(source.url, origin).href.replace(/\/+$/, '')}/${file}`;
  return null;
}

/** Which dtypes a model offers and how big each is, without downloading them. */
export async function probeModel(
  source: BrowserModelSource,
  remoteHost: string,
  origin: string,
): Promise<ModelFacts> {
  const dtypes: Dtype[] = [];
  const bytesByDtype: Partial<Record<Dtype, number>> = {};
  if (source.kind === 'files') {
    for (const dtype of DTYPES) {
      const hit = source.files.find((f) => f.path.endsWith(`onnx/${DTYPE_FILE[dtype]}`));
      if (hit) {
        dtypes.push(dtype);
        bytesByDtype[dtype] = hit.blob.size;
      }
    }
    return { dtypes, bytesByDtype };
  }
  await Promise.all(
    DTYPES.map(async (dtype) => {
      const url = fileUrl(source, `onnx/${DTYPE_FILE[dtype]}`, remoteHost, origin);
      if (!url) return;
      try {
        const response = await fetch(url, { method: 'HEAD' });
        if (!response.ok) return;
        dtypes.push(dtype);
        const length = Number(
          response.headers.get('x-linked-size') ?? response.headers.get('content-length'),
        );
        if (length > 0) bytesByDtype[dtype] = length;
      } catch {
        // unreachable: leave it out
      }
    }),
  );
  dtypes.sort((a, b) => DTYPES.indexOf(a) - DTYPES.indexOf(b));
  return { dtypes, bytesByDtype };
}

/** The model a cached file belongs to: its Hub repo URL or its folder URL. */
export function modelOfCacheKey(url: string): string {
  const hub = /^(.*)\/resolve\/[^/]+\/.+$/.exec(url);
  if (hub) return hub[1]!;
  // A folder's weights sit in its onnx/ subfolder, its other files at its top: strip one or the other.
  const weights = /^(.*)\/onnx\/[^/]+$/.exec(url);
  if (weights) return weights[1]!;
  return url.replace(/\/[^/]+$/, '');
}

export async function listCached(): Promise<CachedModel[]> {
  const cache = await caches.open(MODEL_CACHE_NAME);
  const sizes = new Map<string, number>();
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    let bytes = Number(response?.headers.get('content-length') ?? 0);
    if (!bytes && response) bytes = (await response.blob()).size;
    const id = modelOfCacheKey(request.url);
    sizes.set(id, (sizes.get(id) ?? 0) + bytes);
  }
  return [...sizes].map(([id, bytes]) => ({ id, bytes })).sort((a, b) => a.id.localeCompare(b.id));
}

export async function deleteCached(id: string): Promise<void> {
  const cache = await caches.open(MODEL_CACHE_NAME);
  const keys = (await cache.keys()).filter((r) => modelOfCacheKey(r.url) === id);
  if (keys.length === 0) {
    throw new EdgetierError(
      'model_not_found',
      `No cached model "${id}": list the cached models to see their ids.`,
    );
  }
  await Promise.all(keys.map((k) => cache.delete(k)));
}

export async function clearCached(): Promise<void> {
  await caches.delete(MODEL_CACHE_NAME);
}
