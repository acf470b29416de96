/**
 * edgetier's model cache, one model at a time, in the Cache API store `edgetier-models-v2`:
 * - a model (a served folder's URL or a Hub repo's URL: its `base`) keeps a manifest
 *   (`<base>/.edgetier/manifest.json`) that records, per file URL, its size, its SHA-256 (computed
 *   while it downloaded, whole and per 8 MiB slice: a load checks the slices with Web Crypto), the server's validators (ETag, Last-Modified) and the byte ranges stored so
 *   far (`parts`, each its own cache entry `<file>?edgetier-part=<offset>`): a download that broke
 *   off keeps its bytes, and the next load (in any worker or tab) asks only for the rest;
 * - a model is listed only once a load marked it complete: every file it needed was there, whole and
 *   checked; anything else is a partial download or gone (a new file broken off, another format's,
 *   leaves the model listed with the formats still whole);
 * - a delete bumps the model's generation (`<base>/.edgetier/generation`) and removes its entries
 *   under the model's Web Lock; every write checks the generation under that lock first, so a
 *   download in flight in another tab never writes a deleted model back.
 */
import { DTYPE_FILE, DTYPES } from '../src/core/dtypes.ts';
import type { CachedModel } from '../src/core/engine.ts';
import { EdgetierError } from '../src/core/errors.ts';
import { Sha256 } from './sha256.ts';
import { hex, SLICE_BYTES } from './slice-digests.ts';

export const MODEL_CACHE_NAME = 'edgetier-models-v2';
/** The store before files carried validators: nothing in it can be checked, so it is dropped. */
export const LEGACY_CACHE_NAMES = ['edgetier-models'];
const MANIFEST_FORMAT = 1;

export interface StoredPart {
  offset: number;
  bytes: number;
}

export interface CachedFileRecord {
  /** Total size of the file. */
  bytes: number;
  /** Lowercase hex SHA-256 of the whole file; set once it is complete. */
  sha256?: string;
  /**
   * Lowercase hex SHA-256 of each SLICE_BYTES slice of the file from byte 0, taken from the same
   * bytes as `sha256` while they downloaded; set once it is complete. A load checks these with Web
   * Crypto (native speed, one slice in memory at a time) instead of hashing the file in JavaScript.
   */
  slices?: string[];
  etag?: string;
  lastModified?: string;
  /** Contiguous byte ranges from 0, each stored as its own entry. */
  parts: StoredPart[];
  complete: boolean;
}

export interface ModelManifest {
  format: number;
  base: string;
  /** By absolute file URL. */
  files: Record<string, CachedFileRecord>;
  /** A load used every file it needed from here, whole and checked. */
  complete: boolean;
}

export const manifestKey = (base: string) => `${base}/.edgetier/manifest.json`;
const generationKey = (base: string) => `${base}/.edgetier/generation`;
export const partKey = (url: string, offset: number) => `${url}?edgetier-part=${offset}`;
export const storedBytes = (record: CachedFileRecord) => record.parts.reduce((s, p) => s + p.bytes, 0);

/** The file name a person knows (`onnx/model.onnx`) from a file URL under `base`. */
export function fileName(base: string, url: string): string {
  return url.startsWith(`${base}/`) ? url.slice(base.length + 1) : url;
}

export function isQuotaError(error: unknown): boolean {
  return (
    error instanceof DOMException && (error.name === 'QuotaExceededError' || /quota/i.test(error.message))
  );
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Runs `task` holding the model's cache lock (Web Locks: across tabs and workers of this origin). */
async function withLock<T>(base: string, task: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) return task();
  return locks.request(`edgetier-cache:${base}`, task) as Promise<T>;
}

export class ModelStore {
  constructor(private readonly cacheName = MODEL_CACHE_NAME) {}

  open(): Promise<Cache> {
    return caches.open(this.cacheName);
  }

  async dropLegacy(): Promise<void> {
    for (const name of LEGACY_CACHE_NAMES) await caches.delete(name).catch(() => false);
  }

  async generation(base: string): Promise<number> {
    const response = await (await this.open()).match(generationKey(base));
    return response ? Number(await response.text()) || 0 : 0;
  }

  async manifest(base: string): Promise<ModelManifest | null> {
    const response = await (await this.open()).match(manifestKey(base));
    if (!response) return null;
    try {
      const manifest = (await response.json()) as ModelManifest;
      return manifest.format === MANIFEST_FORMAT ? manifest : null;
    } catch {
      return null;
    }
  }

  /**
   * Changes the manifest under the model's lock, unless the model was deleted since `generation`
   * (then nothing is written and it resolves false). A failed write throws storage_full.
   */
  async update(
    base: string,
    generation: number,
    change: (manifest: ModelManifest) => void,
  ): Promise<boolean> {
    return withLock(base, async () => {
      if ((await this.generation(base)) !== generation) return false;
      const manifest = (await this.manifest(base)) ?? {
        format: MANIFEST_FORMAT,
        base,
        files: {},
        complete: false,
      };
      change(manifest);
      try {
        await (await this.open()).put(
          manifestKey(base),
          new Response(JSON.stringify(manifest), { headers: { 'content-type': 'application/json' } }),
        );
      } catch (error) {
        throw isQuotaError(error) ? await this.storageFull(base, 0, error) : error;
      }
      return true;
    });
  }

  /** Writes one part; a part written after a delete of its model is removed again. */
  async commitPart(
    base: string,
    generation: number,
    url: string,
    part: StoredPart,
    meta: Omit<CachedFileRecord, 'parts' | 'complete'> & { complete: boolean },
  ): Promise<boolean> {
    const kept = await this.update(base, generation, (manifest) => {
      const record = manifest.files[url] ?? { bytes: meta.bytes, parts: [], complete: false };
      // Only a whole file written again (changed, damaged) can be one the completing load used; a new
      // file broken off (another format's download) leaves that load's files whole and listed.
      const wasWhole = record.complete;
      record.bytes = meta.bytes;
      if (meta.etag) record.etag = meta.etag;
      if (meta.lastModified) record.lastModified = meta.lastModified;
      if (meta.sha256) record.sha256 = meta.sha256;
      if (meta.slices) record.slices = meta.slices;
      record.parts = [...record.parts.filter((p) => p.offset < part.offset), part];
      record.complete = meta.complete;
      manifest.files[url] = record;
      manifest.complete = manifest.complete && (meta.complete || !wasWhole);
    });
    if (!kept) await (await this.open()).delete(partKey(url, part.offset));
    return kept;
  }

  /** Forgets one file (a changed or damaged one): its record and its parts. */
  async dropFile(base: string, generation: number, url: string): Promise<void> {
    const cache = await this.open();
    const record = (await this.manifest(base))?.files[url];
    await this.update(base, generation, (manifest) => {
      delete manifest.files[url];
      manifest.complete = false;
    });
    for (const part of record?.parts ?? []) await cache.delete(partKey(url, part.offset));
  }

  async markComplete(base: string, generation: number, urls: readonly string[]): Promise<boolean> {
    return this.update(base, generation, (manifest) => {
      manifest.complete = urls.length > 0 && urls.every((url) => manifest.files[url]?.complete === true);
    });
  }

  /** Removes a model: bumps its generation first, so writes in flight elsewhere are dropped. */
  async deleteModel(base: string): Promise<boolean> {
    return withLock(base, async () => {
      const cache = await this.open();
      const manifest = await this.manifest(base);
      const next = (await this.generation(base)) + 1;
      await cache.put(generationKey(base), new Response(String(next)));
      const prefix = `${base}/`;
      const keys = (await cache.keys()).filter(
        (request) => request.url.startsWith(prefix) && request.url !== generationKey(base),
      );
      await Promise.all(keys.map((key) => cache.delete(key)));
      return manifest !== null || keys.length > 0;
    });
  }

  async list(): Promise<CachedModel[]> {
    const cache = await this.open();
    const models: CachedModel[] = [];
    for (const request of await cache.keys()) {
      if (!request.url.endsWith('/.edgetier/manifest.json')) continue;
      const base = request.url.slice(0, -'/.edgetier/manifest.json'.length);
      const manifest = await this.manifest(base);
      if (!manifest?.complete) continue;
      const bytes = Object.values(manifest.files).reduce((s, record) => s + storedBytes(record), 0);
      // Each format whose model file is here whole (its external data, if any, goes with it).
      const whole = Object.entries(manifest.files).filter(([, record]) => record.complete);
      const dtypes = DTYPES.filter((d) => whole.some(([url]) => url.endsWith(`/${DTYPE_FILE[d]}`)));
      models.push({ id: base, bytes, dtypes });
    }
    return models.sort((a, b) => a.id.localeCompare(b.id));
  }

  async clear(): Promise<void> {
    // Generations must outlive a clear, so writes in flight elsewhere still see a change.
    const cache = await this.open();
    const bases = (await cache.keys())
      .filter((r) => r.url.endsWith('/.edgetier/manifest.json'))
      .map((r) => r.url.slice(0, -'/.edgetier/manifest.json'.length));
    for (const base of bases) await this.deleteModel(base);
    for (const request of await cache.keys()) {
      if (!request.url.endsWith('/.edgetier/generation')) await cache.delete(request);
    }
  }

  /**
   * A file's stored parts as disk-backed Blobs, in order; throws a message naming what is wrong
   * when a part is missing, out of place or of the wrong size.
   */
  async partBlobs(url: string, record: CachedFileRecord): Promise<Blob[]> {
    const cache = await this.open();
    const blobs: Blob[] = [];
    let offset = 0;
    for (const part of record.parts) {
      if (part.offset !== offset) throw new Error(`bytes ${offset}-${part.offset - 1} are missing`);
      const response = await cache.match(partKey(url, part.offset));
      if (!response) throw new Error(`the part at byte ${part.offset} is missing`);
      const blob = await response.blob();
      if (blob.size !== part.bytes)
        throw new Error(`the part at byte ${part.offset} holds ${blob.size} bytes instead of ${part.bytes}`);
      blobs.push(blob);
      offset += part.bytes;
    }
    return blobs;
  }

  /**
   * Checks a complete file: every part there with its size, the total size, the SHA-256 recorded
   * when it downloaded (and the one the server publishes, when given), JSON that parses. Resolves
   * null when it is sound, else what is wrong.
   */
  async verify(url: string, record: CachedFileRecord, expectedSha256?: string): Promise<string | null> {
    let blobs: Blob[];
    try {
      blobs = await this.partBlobs(url, record);
    } catch (error) {
      return (error as Error).message;
    }
    const size = blobs.reduce((s, b) => s + b.size, 0);
    if (size !== record.bytes) return `it holds ${size} bytes instead of ${record.bytes}`;
    const isJson = url.endsWith('.json');
    const subtle = globalThis.crypto?.subtle;
    if (record.sha256 && record.slices?.length === Math.ceil(size / SLICE_BYTES) && subtle) {
      // The slices' digests were taken from the very bytes whose whole-file digest is record.sha256.
      if (expectedSha256 && expectedSha256 !== record.sha256)
        return `its SHA-256 is ${record.sha256.slice(0, 12)}…, not ${expectedSha256.slice(0, 12)}…`;
      const whole = new Blob(blobs);
      for (const [i, digest] of record.slices.entries()) {
        const start = i * SLICE_BYTES;
        const slice = whole.slice(start, start + SLICE_BYTES);
        if (hex(await subtle.digest('SHA-256', await slice.arrayBuffer())) !== digest)
          return `bytes ${start}-${start + slice.size - 1} do not match the SHA-256 taken when they downloaded`;
      }
      return isJson ? jsonProblem([new Uint8Array(await whole.arrayBuffer())]) : null;
    }
    const wanted = expectedSha256 ?? record.sha256;
    if (!wanted && !isJson) return null;
    const hasher = new Sha256();
    const text: Uint8Array[] = [];
    for (const blob of blobs) {
      const reader = blob.stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hasher.update(value);
        if (isJson) text.push(value);
      }
    }
    const digest = hasher.hex();
    if (wanted && digest !== wanted)
      return `its SHA-256 is ${digest.slice(0, 12)}…, not ${wanted.slice(0, 12)}…`;
    if (isJson) {
      const problem = jsonProblem(text);
      if (problem) return problem;
    }
    return null;
  }

  /** A storage_full error that says how much the model needs and what could be deleted. */
  async storageFull(base: string, neededBytes: number, cause?: unknown): Promise<EdgetierError> {
    const others = (await this.list().catch(() => [])).filter((m) => m.id !== base);
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    const room =
      estimate?.quota !== undefined
        ? ` (the browser grants this site ${mib(Math.max(0, estimate.quota - (estimate.usage ?? 0)))} more)`
        : '';
    const need =
      neededBytes > 0 ? `${base} needs ${mib(neededBytes)}${room}` : `${base} could not be stored${room}`;
    const advice =
      others.length > 0
        ? `Delete cached models you do not need (${others.map((m) => `${m.id}: ${mib(m.bytes)}`).join(', ')}) or free disk space, then load it again.`
        : 'Free disk space (or allow this site more storage), then load it again.';
    return new EdgetierError('storage_full', `Storage is full: ${need}. ${advice}`, { cause });
  }
}

/** Why the bytes are not one JSON document, or null when they are. */
export function jsonProblem(chunks: Uint8Array[]): string | null {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    let text = '';
    for (const chunk of chunks) text += decoder.decode(chunk, { stream: true });
    text += decoder.decode();
    JSON.parse(text);
    return null;
  } catch (error) {
    return `it is not valid JSON (${error instanceof Error ? error.message : String(error)})`;
  }
}
