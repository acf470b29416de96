/**
 * What a model folder offers, read before any weight is downloaded (the backend planner's ModelFacts):
 * its dtypes and their sizes from HEAD requests, and whether edgetier wrote its graph (config.json's
 * `edgetier` block). Apart from the model cache (model-files.ts), so Node tests can run it.
 */
import type { ModelFacts } from '../src/core/backend-plan.ts';
import { isEdgetierBlock } from '../src/core/cpu-runtime-plan.ts';
import { DTYPE_FILE, DTYPES, type Dtype } from '../src/core/dtypes.ts';
import type { BrowserModelSource } from '../src/core/engine-protocol.ts';

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
    // The folder's own config.json, the one the load reads (applySource drops the picked folder's name).
    const config = source.files.find(
      (f) => (f.path.includes('/') ? f.path.slice(f.path.indexOf('/') + 1) : f.path) === 'config.json',
    );
    return {
      dtypes,
      bytesByDtype,
      engineGraph: hasEdgetierBlock(
        config ? new TextDecoder().decode(await config.blob.arrayBuffer()) : null,
      ),
    };
  }
  const configUrl = fileUrl(source, 'config.json', remoteHost, origin);
  const engineGraph = configUrl
    ? fetch(configUrl)
        .then(
          (r) => (r.ok ? r.text() : null),
          async () => (await cached?.(configUrl))?.text() ?? null,
        )
        .then(hasEdgetierBlock, () => false)
    : Promise.resolve(false);
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
  return { dtypes, bytesByDtype, engineGraph: await engineGraph };
}

/**
 * config.json carries the `edgetier` block that `edgetier convert` and `synth` write (ModelFacts.
 * engineGraph): the mark of a graph edgetier's CPU engine reads. Unreadable counts as absent.
 */
function hasEdgetierBlock(text: string | null): boolean {
  if (text === null) return false;
  try {
    return isEdgetierBlock((JSON.parse(text) as { edgetier?: unknown } | null)?.edgetier);
  } catch {
    return false;
  }
}
