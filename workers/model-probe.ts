/**
 * What a model folder offers, read before any weight is downloaded (the backend planner's ModelFacts):
 * its dtypes and their sizes from HEAD requests, whether edgetier wrote its graph (config.json's
 * `edgetier` block), and then whether edgetier's CPU engine will refuse it by its settings. Apart from
 * the model cache (model-files.ts: its copies come in as callbacks), so Node tests can run it.
 */
import type { ModelFacts } from '../src/core/backend-plan.ts';
import { isEdgetierBlock } from '../src/core/cpu-runtime-plan.ts';
import { DTYPE_FILE, DTYPES, type Dtype } from '../src/core/dtypes.ts';
import type { BrowserModelSource } from '../src/core/engine-protocol.ts';
import { GENERATION_CONFIG_MAX_BYTES } from '../src/core/generation-settings.ts';
import { cpuEngineSettingsRefusal } from '../src/cpu-engine/model-refusal.ts';

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

/** A file edgetier's model cache holds whole: its size, and its text on demand. */
export interface CachedFile {
  bytes: number;
  text(): Promise<string>;
}

/**
 * Which dtypes a model offers and how big each is, without downloading them. `cached` finds a file in
 * edgetier's model cache (null: not there): offline, the dtypes and config.json's mark are what it
 * holds, so the plan picks a file that is there (the q4 of a q4 plan, or a q8 cached before it).
 */
export async function probeModel(
  source: BrowserModelSource,
  remoteHost: string,
  origin: string,
  cached?: (url: string) => Promise<CachedFile | null>,
  /**
   * The model cache's copy of a file as the next load would read it (ModelFiles.currentCopy: kept by
   * that load's revalidation), or null: a folder's settings are read through it first, as the CPU
   * engine's load reads the cache before the network, so the probe sees the file the load will.
   */
  current?: (url: string) => Promise<CachedFile | null>,
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
    // The folder's own files, the ones the load reads (applySource drops the picked folder's name).
    const picked = (file: string) =>
      source.files.find(
        (f) => (f.path.includes('/') ? f.path.slice(f.path.indexOf('/') + 1) : f.path) === file,
      );
    const config = picked('config.json');
    const generation = picked('generation_config.json');
    return withEngineFacts(
      { dtypes, bytesByDtype },
      config ? new TextDecoder().decode(await config.blob.arrayBuffer()) : null,
      async () =>
        generation
          ? {
              bytes: generation.blob.size,
              text: async () => new TextDecoder().decode(await generation.blob.arrayBuffer()),
            }
          : null,
    );
  }
  /**
   * A settings file: null where it is absent (404) or unreadable; offline, the model cache's copy.
   * `sizeLimit`: one that says it is larger (an uncompressed Content-Length) is not read, only sized.
   */
  const settingsFile = async (file: string, sizeLimit = Infinity): Promise<CachedFile | null> => {
    const url = fileUrl(source, file, remoteHost, origin);
    if (!url) return null;
    const copy = await current?.(url).catch(() => null);
    if (copy) return copy;
    try {
      // As the load downloads (no-store): a copy the browser's HTTP cache still deems fresh may be one
      // the host has since changed.
      const response = await fetch(url, { cache: 'no-store' } as RequestInit);
      if (!response.ok) {
        await response.body?.cancel();
        return null;
      }
      // A compressed body's Content-Length is not the size the engine reads: only an identity one counts.
      const encoding = response.headers.get('content-encoding');
      const length = Number(response.headers.get('content-length'));
      if ((!encoding || encoding === 'identity') && length > sizeLimit) {
        await response.body?.cancel();
        return { bytes: length, text: async () => '' };
      }
      const body = new Uint8Array(await response.arrayBuffer());
      return { bytes: body.length, text: async () => new TextDecoder().decode(body) };
    } catch {
      return (await cached?.(url).catch(() => null)) ?? null;
    }
  };
  const config = settingsFile('config.json')
    .then((file) => file?.text() ?? null)
    .catch(() => null);
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
        // Unreachable (offline): in the plan only if the model cache holds it whole.
        const hit = await cached?.(url).catch(() => null);
        if (!hit) return;
        dtypes.push(dtype);
        bytesByDtype[dtype] = hit.bytes;
      }
    }),
  );
  dtypes.sort((a, b) => DTYPES.indexOf(a) - DTYPES.indexOf(b));
  return withEngineFacts({ dtypes, bytesByDtype }, await config, () =>
    settingsFile('generation_config.json', GENERATION_CONFIG_MAX_BYTES).catch(() => null),
  );
}

/**
 * The facts about edgetier's CPU engine (ModelFacts.engineGraph, cpuEngineRefusal) from config.json's
 * text and, for a folder edgetier wrote, generation_config.json's bytes: the refusals the engine's
 * loaders make before they read the ONNX file, in the same order and words (the model index's too).
 */
async function withEngineFacts(
  facts: ModelFacts,
  configText: string | null,
  generationFile: () => Promise<CachedFile | null>,
): Promise<ModelFacts> {
  const config = parsed(configText);
  const engineGraph = isEdgetierBlock((config as { edgetier?: unknown } | null)?.edgetier);
  if (!engineGraph) return { ...facts, engineGraph };
  const refusal = await cpuEngineSettingsRefusal(config, await generationFile());
  return { ...facts, engineGraph, ...(refusal ? { cpuEngineRefusal: refusal } : {}) };
}

/** JSON text parsed; null where absent or damaged. */
function parsed(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
