/**
 * Where model files come from and how they reach transformers.js, on the worker side:
 * - points transformers.js at the source (a Hub id or mirror, a folder on edgetier's server, or a
 *   folder the visitor picked from disk) through its `env`;
 * - `ModelFiles.beginLoad` revalidates what edgetier's model cache (model-store.ts) holds for the
 *   model: against the server's /models/index.json (size and SHA-256 per file) for a served folder,
 *   with one conditional request per file elsewhere, or not at all when offline (with a note);
 * - `ModelFiles.fetch` (transformers.js's `env.fetch`) records the URL and status of the last
 *   failure, resumes a download that broke off with an HTTP Range request (within one load, and
 *   across loads from the bytes the cache kept), hashes every byte as it passes and streams it into
 *   the cache as it arrives: nothing is held twice;
 * - `ModelFiles.cache` (transformers.js's `env.customCache`) serves picked files from memory and
 *   cached files after checking their size and SHA-256; a damaged file is dropped and downloaded again.
 */
import type { CachedModel } from '../src/core/engine.ts';
import type { BlobLike, BrowserModelSource } from '../src/core/engine-protocol.ts';
import { EdgetierError } from '../src/core/errors.ts';
import type { CachedFile } from './model-probe.ts';
import {
  type CachedFileRecord,
  fileName,
  isQuotaError,
  jsonProblem,
  type ModelManifest,
  ModelStore,
  partKey,
  storedBytes,
} from './model-store.ts';
import { Sha256 } from './sha256.ts';
import { SliceDigests } from './slice-digests.ts';

export { MODEL_CACHE_NAME } from './model-store.ts';
export const DEFAULT_REMOTE_HOST = 'https://huggingface.co/';
/** Where picked files appear to transformers.js; served from memory by the custom cache. */
const PICKED_PREFIX = 'https://picked.edgetier.invalid/';
/** Times in a row one download is resumed without a byte arriving in between before it fails. */
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

/** What the server publishes about one file (edgetier's /models/index.json). */
interface ExpectedFile {
  bytes: number;
  sha256?: string;
}

/** What one load knows about the cached model it loads. */
export interface LoadScope {
  base: string;
  /** The model's delete counter when the load began: writes after a delete are dropped. */
  generation: number;
  manifest: ModelManifest | null;
  expected: Map<string, ExpectedFile>;
  /** Files this load used whole: read from the cache or stored by it. */
  used: Set<string>;
  /** Files this load stored; transformers.js's own `put` for them is a no-op. */
  stored: Set<string>;
  notes: string[];
  /** A download did not match the server's published SHA-256: worth one more try. */
  integrityFailure: boolean;
  /** The model was deleted (in another tab) while this load ran: nothing more is written. */
  deleted: boolean;
}

/** The folder URL (served folder) or repo URL (Hub) a source's files sit under; null for picked files. */
export function modelBase(source: BrowserModelSource, remoteHost: string, origin: string): string | null {
  if (source.kind === 'hub') return `${(source.host ?? remoteHost).replace(/\/+$/, '')}/${source.id}`;
  if (source.kind === 'url') return new URL(source.url, origin).href.replace(/\/+$/, '');
  return null;
}

/** A cache entry written as a stream: bytes go to disk as they arrive. */
interface PartWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Resolves once the entry is stored; rejects with the browser's error (QuotaExceededError). */
  close(): Promise<void>;
  abort(): Promise<void>;
}

function openPart(cache: Cache, key: string): PartWriter {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const stored = cache.put(
    key,
    new Response(readable, { headers: { 'content-type': 'application/octet-stream' } }),
  );
  stored.catch(() => undefined);
  const writer = writable.getWriter();
  const failure = async (error: unknown) =>
    (await stored.then(
      () => null,
      (e: unknown) => e,
    )) ?? error;
  return {
    async write(chunk) {
      try {
        await writer.ready;
        writer.write(chunk).catch(() => undefined);
      } catch (error) {
        throw await failure(error);
      }
    },
    async close() {
      try {
        await writer.close();
      } catch (error) {
        throw await failure(error);
      }
      await stored;
    },
    async abort() {
      await writer.abort().catch(() => undefined);
      await stored.catch(() => undefined);
      await cache.delete(key).catch(() => false);
    },
  };
}

/** Model files for transformers.js: fetch with resume and integrity checks, and the cache. */
export class ModelFiles {
  lastFailure: HttpFailure | null = null;
  /** Copy downloads into edgetier's cache; off, files stream straight to transformers.js. */
  enabled: boolean;
  picked = new Map<string, BlobLike>();
  private scope: LoadScope | null = null;
  /** Keys this load read on the device (picked files, whole files from the cache): no download. */
  #readLocally = new Set<string>();

  constructor(
    enabled: boolean,
    readonly store = new ModelStore(),
    private readonly baseFetch: typeof fetch = (...args) => fetch(...args),
  ) {
    this.enabled = enabled;
  }

  /**
   * Opens a load of `source`: revalidates what the cache holds for it (dropping changed files) and
   * returns the scope the fetch and cache work in; null for sources that are not cached.
   */
  async beginLoad(source: BrowserModelSource, remoteHost: string, origin: string): Promise<LoadScope | null> {
    this.scope = null;
    this.#readLocally.clear();
    const base = modelBase(source, remoteHost, origin);
    if (!this.enabled || !base) return null;
    const store = this.store;
    const generation = await store.generation(base);
    const scope: LoadScope = {
      base,
      generation,
      manifest: await store.manifest(base),
      expected: new Map(),
      used: new Set(),
      stored: new Set(),
      notes: [],
      integrityFailure: false,
      deleted: false,
    };
    const server = await this.serverIndex(source, base);
    scope.expected = server.expected;
    let offline = server.offline;
    const changed: string[] = [];
    for (const [url, record] of Object.entries(scope.manifest?.files ?? {})) {
      const verdict = await this.keeps(url, record, scope.expected.get(url), offline);
      if (verdict === 'offline') offline = true;
      if (verdict === false) {
        changed.push(fileName(base, url));
        await store.dropFile(base, generation, url);
      }
    }
    if (changed.length > 0) {
      scope.notes.push(
        `${base} changed on the server since it was cached (${changed.join(', ')}): downloaded again.`,
      );
    }
    if (offline && scope.manifest) {
      scope.notes.push(
        `Offline: the cached copy of ${base} is used as it is, without asking the server for a newer one.`,
      );
    }
    scope.manifest = await store.manifest(base);
    this.scope = scope;
    return scope;
  }

  endLoad(): void {
    this.scope = null;
  }

  /**
   * What the server says a load of `source` should hold (a url source's models/index.json: each
   * file's size and hash), and whether the server is out of reach; a broken index refused by name.
   */
  private async serverIndex(
    source: BrowserModelSource,
    base: string,
  ): Promise<{ expected: Map<string, ExpectedFile>; offline: boolean }> {
    const expected = new Map<string, ExpectedFile>();
    if (source.kind !== 'url') return { expected, offline: false };
    const parent = base.slice(0, base.lastIndexOf('/') + 1);
    try {
      const response = await this.baseFetch(`${parent}index.json`, { cache: 'no-store' });
      if (response.ok) {
        const index = (await response.json()) as {
          models?: { url: string; files?: { path: string; bytes: number; sha256?: string }[] }[];
        };
        const entry = index.models?.find((m) => new URL(m.url, parent).href.replace(/\/+$/, '') === base);
        for (const f of entry?.files ?? []) {
          const url = `${base}/${f.path}`;
          // Hex digits in either case; anything else is a broken index, refused by name.
          if (f.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(f.sha256)) {
            throw new EdgetierError(
              'download_failed',
              `The server's models/index.json gives ${url} the sha256 ${JSON.stringify(f.sha256)}, which ` +
                'is not 64 hex digits: rebuild the index on the server (edgetier serve or edgetier build writes it).',
            );
          }
          expected.set(url, { bytes: f.bytes, ...(f.sha256 ? { sha256: f.sha256.toLowerCase() } : {}) });
        }
      } else await response.body?.cancel();
    } catch (error) {
      if (error instanceof EdgetierError) throw error;
      return { expected, offline: true };
    }
    return { expected, offline: false };
  }

  /**
   * Whether a load keeps the cached `record` of `url` (beginLoad's revalidation of one file): its
   * size and hash against the index's entry, else, where the server is reachable, the file's own
   * validators; 'offline' where the server could not be asked (the copy kept as it is).
   */
  private async keeps(
    url: string,
    record: CachedFileRecord,
    expected: ExpectedFile | undefined,
    offline: boolean,
  ): Promise<boolean | 'offline'> {
    if (expected) {
      return (
        expected.bytes === record.bytes &&
        (!record.complete || !expected.sha256 || expected.sha256 === record.sha256)
      );
    }
    // Not in the index (or no index): ask the server about this file itself.
    if (!offline && record.complete) return this.stillCurrent(url, record);
    return true;
  }

  /**
   * `url`, a file of `source`, as the next load would read it from the model cache: whole, kept by
   * that load's revalidation (`keeps`) and undamaged (`match`'s check), else null (not cached, changed
   * on the server, damaged, the cache off, a picked folder). The probe reads a folder's settings through it, so it sees what the load will.
   */
  async currentCopy(
    source: BrowserModelSource,
    url: string,
    remoteHost: string,
    origin: string,
  ): Promise<CachedFile | null> {
    const base = modelBase(source, remoteHost, origin);
    if (!this.enabled || base === null) return null;
    const record = (await this.store.manifest(base))?.files[url];
    if (!record?.complete) return null;
    const server = await this.serverIndex(source, base);
    const expected = server.expected.get(url);
    if ((await this.keeps(url, record, expected, server.offline)) === false) return null;
    // A damaged copy the load would drop and download again (match's check): the probe reads the network.
    if (await this.store.verify(url, record, expected?.sha256)) return null;
    const blobs = await this.store.partBlobs(url, record);
    return { bytes: record.bytes, text: () => new Blob(blobs).text() };
  }

  /** One conditional request: is the cached file still what the server has? */
  private async stillCurrent(url: string, record: CachedFileRecord): Promise<boolean | 'offline'> {
    const headers = new Headers();
    if (record.etag) headers.set('If-None-Match', record.etag);
    else if (record.lastModified) headers.set('If-Modified-Since', record.lastModified);
    else return true; // nothing to compare with: the size and hash checks on read still run
    try {
      const response = await this.baseFetch(url, { method: 'HEAD', headers, cache: 'no-store' });
      if (response.status === 304) return true;
      // A server error says nothing about the file: keep the copy (its size and hash are still checked).
      if (!response.ok) return response.status >= 500;
      const etag = response.headers.get('x-linked-etag') ?? response.headers.get('etag');
      const size = Number(response.headers.get('x-linked-size') ?? response.headers.get('content-length'));
      if (record.etag && etag) return etag === record.etag;
      return size === record.bytes && response.headers.get('last-modified') === record.lastModified;
    } catch {
      return 'offline';
    }
  }

  /**
   * Whether this load read `file` (as transformers.js names it: a path inside the model) on the
   * device, from the cache or the visitor's picked files, rather than downloading it.
   */
  readLocally(file: string): boolean {
    for (const key of this.#readLocally) if (key === file || key.endsWith(`/${file}`)) return true;
    return false;
  }

  /** transformers.js's `env.customCache`. */
  readonly cache = {
    match: (key: string): Promise<Response | undefined> => this.match(key),
    // Files are stored while they download (see fetch); transformers.js's copy would be a second one.
    put: async (_key: string, _response: Response): Promise<void> => undefined,
  };

  private async match(key: string): Promise<Response | undefined> {
    const file = this.picked.get(key);
    if (file) {
      this.#readLocally.add(key);
      return new Response(await file.arrayBuffer(), { headers: { 'content-length': String(file.size) } });
    }
    const scope = this.scope;
    if (!scope || !key.startsWith(`${scope.base}/`)) return undefined;
    // transformers.js asks again after a download, only to skip its own put.
    if (scope.stored.has(key)) return new Response(null);
    const record = scope.manifest?.files[key];
    if (!record?.complete) return undefined;
    const problem = await this.store.verify(key, record, scope.expected.get(key)?.sha256);
    if (problem) {
      scope.notes.push(
        `The cached ${fileName(scope.base, key)} of ${scope.base} was damaged (${problem}): downloaded again.`,
      );
      await this.store.dropFile(scope.base, scope.generation, key);
      delete scope.manifest?.files[key];
      return undefined;
    }
    const blobs = await this.store.partBlobs(key, record);
    scope.used.add(key);
    this.#readLocally.add(key);
    return new Response(new Blob(blobs), { headers: { 'content-length': String(record.bytes) } });
  }

  /** transformers.js's `env.fetch`. */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init?.headers);
    // Requests that manage ranges themselves (transformers.js probes sizes with bytes=0-0) or that
    // are not plain downloads pass through untouched.
    if (headers.has('Range') || (init?.method && init.method !== 'GET')) return this.tracked(url, init);
    const scope = this.scope && url.startsWith(`${this.scope.base}/`) ? this.scope : null;
    return this.download(url, init, scope);
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

  private async download(
    url: string,
    init: RequestInit | undefined,
    scope: LoadScope | null,
  ): Promise<Response> {
    const store = this.store;
    const name = scope ? fileName(scope.base, url) : url;
    // Bytes an earlier load kept (in this worker or another): ask only for the rest.
    let prefix = scope?.manifest?.files[url];
    let prefixBlobs: Blob[] = [];
    if (prefix && (prefix.complete || prefix.parts.length === 0)) prefix = undefined;
    if (prefix && scope) {
      try {
        prefixBlobs = await store.partBlobs(url, prefix);
      } catch {
        await store.dropFile(scope.base, scope.generation, url);
        prefix = undefined;
      }
    }
    const headers = new Headers(init?.headers);
    if (prefix) {
      headers.set('Range', `bytes=${storedBytes(prefix)}-`);
      const validator = prefix.etag ?? prefix.lastModified;
      if (validator) headers.set('If-Range', validator);
    }
    // no-store: edgetier's cache keeps the file; Chromium's HTTP cache would keep a second copy.
    const request: RequestInit = { ...init, headers, cache: 'no-store' };
    let response: Response;
    try {
      response = await this.baseFetch(url, request);
    } catch (error) {
      this.lastFailure = { url, status: 0 };
      throw error;
    }
    if (!response.ok) {
      this.lastFailure = { url, status: response.status };
      return response;
    }
    // A CDN may compress a file on the fly: its Content-Length is then the compressed size (or
    // absent) and a Range would address compressed bytes, so the size comes from the server's index
    // or from the bytes themselves, and such a download is neither kept partly nor resumed.
    const encoding = response.headers.get('content-encoding');
    const encoded = encoding !== null && encoding.toLowerCase() !== 'identity';
    const wrongRange =
      prefix && response.status === 206 && rangeProblem(response, storedBytes(prefix), prefix.bytes);
    if (prefix && scope && (response.status !== 206 || encoded || wrongRange)) {
      // The file changed since those bytes were kept (If-Range failed): start over.
      await store.dropFile(scope.base, scope.generation, url);
      if (response.status === 206) {
        await response.body?.cancel();
        delete scope.manifest?.files[url];
        return this.download(url, init, scope);
      }
      prefix = undefined;
      prefixBlobs = [];
    }
    const expected = scope?.expected.get(url);
    const offset = prefix ? storedBytes(prefix) : 0;
    const declared = response.headers.get('content-length');
    /** The file's size; null when the server does not say it (then known once it has arrived). */
    const total: number | null = prefix
      ? prefix.bytes
      : !encoded && declared !== null
        ? Number(declared)
        : (expected?.bytes ?? null);
    const etag = prefix ? prefix.etag : (response.headers.get('etag') ?? undefined);
    const lastModified = prefix ? prefix.lastModified : (response.headers.get('last-modified') ?? undefined);
    const ranges = !encoded && (prefix !== undefined || response.headers.get('accept-ranges') === 'bytes');
    const json = url.endsWith('.json');
    if (json && !encoded && declared === '0') {
      await response.body?.cancel();
      if (scope) scope.integrityFailure = true;
      throw new EdgetierError(
        'weights_corrupt',
        `The downloaded ${name} is damaged: it is empty, not JSON. It was not kept; load the model again, and ` +
          'if this repeats, rebuild or re-upload the file on the server.',
      );
    }
    if (!response.body) return response;
    if (expected && total !== null && expected.bytes !== total) {
      await response.body.cancel();
      throw new EdgetierError(
        'download_failed',
        `${url} has ${total} bytes but the server's index says ${expected.bytes}: the model is changing on the ` +
          'server. Load it again once it is rebuilt.',
      );
    }
    let sink: PartWriter | null = null;
    if (scope && !scope.deleted) {
      const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
      if (
        total !== null &&
        estimate?.quota !== undefined &&
        estimate.quota - (estimate.usage ?? 0) < total - offset
      ) {
        await response.body.cancel();
        throw await store.storageFull(scope.base, total - offset);
      }
      sink = openPart(await store.open(), partKey(url, offset));
    }

    const hasher = new Sha256();
    const slices = new SliceDigests();
    const jsonChunks: Uint8Array[] | null = json ? [] : null;
    let received = offset;
    let resumes = 0;
    let resumedAt = offset;
    let reader = response.body.getReader();
    const replay = prefixBlobs.map((blob) => blob.stream().getReader());
    const see = (chunk: Uint8Array) => {
      hasher.update(chunk);
      slices.add(chunk);
      jsonChunks?.push(chunk);
    };
    const storageError = async (error: unknown) => {
      await sink?.abort();
      sink = null;
      if (scope) await store.deleteModel(scope.base).catch(() => false);
      return scope && isQuotaError(error)
        ? await store.storageFull(scope.base, total ?? received, error)
        : error;
    };

    const finish = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
      const digest = hasher.hex();
      const sliceDigests = await slices.done();
      const problem =
        total !== null && received !== total
          ? `it has ${received} bytes, the server says ${total}`
          : expected?.sha256 && digest !== expected.sha256
            ? `its SHA-256 is ${digest.slice(0, 12)}…, the server's index says ${expected.sha256.slice(0, 12)}…`
            : jsonChunks
              ? jsonProblem(jsonChunks)
              : null;
      if (problem) {
        await sink?.abort();
        if (scope) {
          await store.dropFile(scope.base, scope.generation, url);
          scope.integrityFailure = true;
        }
        throw new EdgetierError(
          'weights_corrupt',
          `The downloaded ${name} is damaged: ${problem}. It was not kept; load the model again, and if this ` +
            'repeats, rebuild or re-upload the file on the server.',
        );
      }
      if (sink && scope) {
        try {
          await sink.close();
        } catch (error) {
          throw await storageError(error);
        }
        const kept = await store
          .commitPart(
            scope.base,
            scope.generation,
            url,
            { offset, bytes: received - offset },
            {
              bytes: received,
              sha256: digest,
              ...(sliceDigests ? { slices: sliceDigests } : {}),
              ...(etag ? { etag } : {}),
              ...(lastModified ? { lastModified } : {}),
              complete: true,
            },
          )
          .catch(async (error: unknown) => {
            throw await storageError(error);
          });
        if (kept) {
          scope.stored.add(url);
          scope.used.add(url);
        } else scope.deleted = true;
      }
      controller.close();
    };

    const keepPartial = async () => {
      if (!sink || !scope) return;
      const writer = sink;
      sink = null;
      if (total === null || encoded) {
        // Bytes that cannot be resumed from (an unknown size, a compressed download) are not kept.
        await writer.abort();
        return;
      }
      try {
        await writer.close();
        await store.commitPart(
          scope.base,
          scope.generation,
          url,
          { offset, bytes: received - offset },
          {
            bytes: total,
            ...(etag ? { etag } : {}),
            ...(lastModified ? { lastModified } : {}),
            complete: false,
          },
        );
      } catch {
        await writer.abort();
      }
    };

    let cancelled = false;
    /**
     * Reads the network eagerly, one read always in flight: Chromium drops bytes that arrived but
     * were not read yet when the connection then fails, and those are exactly the bytes a resume
     * must not ask for again. Disk writes pace the reads (the cache entry's backpressure).
     */
    const pump = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
      for (const stored of replay) {
        for (;;) {
          const { done, value } = await stored.read();
          if (done) break;
          see(value);
          controller.enqueue(value);
        }
      }
      let pending = reader.read();
      for (;;) {
        let chunk: Uint8Array;
        try {
          const { done, value } = await pending;
          if (done) {
            if (total !== null && received < total) throw new Error('the connection closed early');
            await finish(controller);
            return;
          }
          chunk = value;
        } catch (error) {
          if (error instanceof EdgetierError) throw error;
          // Only resumes that brought nothing count: a connection that keeps breaking off but keeps
          // delivering converges, one that delivers nothing fails after a few tries.
          if (received > resumedAt) {
            resumes = 0;
            resumedAt = received;
          }
          const next =
            ranges && resumes < MAX_RESUMES && total !== null
              ? await this.reopen(url, received, total, etag ?? lastModified, init)
              : null;
          resumes++;
          if (next && typeof next !== 'string') {
            reader = next.getReader();
            pending = reader.read();
            continue;
          }
          const why =
            typeof next === 'string' ? next : error instanceof Error ? error.message : String(error);
          await keepPartial();
          this.lastFailure = { url, status: 0 };
          throw new EdgetierError(
            'download_failed',
            `Download failed: ${url} broke off after ${received} of ${total ?? 'its'} bytes ` +
              `(${why}). ` +
              (scope && received > 0 && !encoded && total !== null
                ? 'Retry the load: it resumes where it stopped.'
                : 'Check your connection and retry the load.'),
          );
        }
        if (total !== null && received + chunk.byteLength > total) {
          await reader.cancel().catch(() => undefined);
          await sink?.abort();
          sink = null;
          throw new EdgetierError(
            'download_failed',
            `Download failed: the server sent more of ${url} than its ${total} bytes. Load it again; if this ` +
              'repeats, the server (or a proxy in between) is broken.',
          );
        }
        pending = reader.read();
        pending.catch(() => undefined);
        see(chunk);
        received += chunk.byteLength;
        controller.enqueue(chunk);
        if (sink) {
          try {
            await sink.write(chunk);
          } catch (error) {
            await reader.cancel().catch(() => undefined);
            throw await storageError(error);
          }
        }
        if (cancelled) return;
      }
    };

    return new Response(
      new ReadableStream<Uint8Array>({
        start: (controller) => {
          pump(controller).catch((error: unknown) => controller.error(error));
        },
        cancel: async () => {
          cancelled = true;
          await reader.cancel().catch(() => undefined);
          await keepPartial();
        },
      }),
      {
        status: 200,
        headers: {
          ...(total !== null ? { 'content-length': String(total) } : {}),
          'content-type': response.headers.get('content-type') ?? 'application/octet-stream',
        },
      },
    );
  }

  /**
   * The rest of a file from byte `from`: its body, null when the server cannot be reached or does
   * not resume (another try may help), or why its answer is wrong (none will).
   */
  private async reopen(
    url: string,
    from: number,
    total: number,
    validator: string | undefined,
    init?: RequestInit,
  ): Promise<ReadableStream<Uint8Array<ArrayBuffer>> | string | null> {
    const headers = new Headers(init?.headers);
    headers.set('Range', `bytes=${from}-`);
    if (validator) headers.set('If-Range', validator);
    try {
      const response = await this.baseFetch(url, { ...init, headers, cache: 'no-store' });
      if (response.status !== 206 || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        return null;
      }
      const problem = rangeProblem(response, from, total);
      if (problem) await response.body.cancel().catch(() => undefined);
      return problem ?? response.body;
    } catch {
      return null;
    }
  }
}

/** Why a 206 answer to `bytes=from-` is not the rest of a file of `total` bytes, or null when it is. */
function rangeProblem(response: Response, from: number, total: number): string | null {
  const range = response.headers.get('content-range');
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range ?? '');
  if (
    match &&
    Number(match[1]) === from &&
    Number(match[2]) === total - 1 &&
    (match[3] === '*' || Number(match[3]) === total)
  )
    return null;
  return `the server answered bytes=${from}- with ${range ?? 'no Content-Range'}`;
}

/** Points transformers.js at a source; returns the model id to pass to it. */
export function applySource(
  env: TransformersEnv,
  source: BrowserModelSource,
  files: ModelFiles,
  remoteHost: string,
  origin: string,
): string {
  files.picked.clear();
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
        files.picked.set(`${PICKED_PREFIX}${name}/${relative}`, blob);
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

/**
 * `url`, a file of `source` that edgetier's model cache holds whole, or null (not cached, the cache
 * off, a picked folder). Unchecked: the planner reads it as a hint (probeModel offline); the load
 * that follows checks every byte it reads.
 */
export async function cachedFile(
  files: ModelFiles,
  source: BrowserModelSource,
  url: string,
  remoteHost: string,
  origin: string,
): Promise<CachedFile | null> {
  const base = modelBase(source, remoteHost, origin);
  if (!files.enabled || base === null) return null;
  const record = (await files.store.manifest(base))?.files[url];
  if (!record?.complete) return null;
  return {
    bytes: record.bytes,
    text: async () => new Blob(await files.store.partBlobs(url, record)).text(),
  };
}

export async function listCached(store: ModelStore): Promise<CachedModel[]> {
  return store.list();
}

export async function deleteCached(store: ModelStore, id: string): Promise<void> {
  if (!(await store.deleteModel(id.replace(/\/+$/, '')))) {
    throw new EdgetierError(
      'model_not_found',
      `No cached model "${id}": list the cached models to see their ids.`,
    );
  }
}

export async function clearCached(store: ModelStore): Promise<void> {
  await store.clear();
}
