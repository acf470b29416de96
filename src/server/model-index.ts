/**
 * The model folders `edgetier serve` offers under /models/: every folder with a config.json in the
 * --models dirs (first dir wins on a name clash), described for the app's catalog. Scanned on each
 * request, so a folder built by `convert` or `synth` appears without a restart.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { parseHfConfig } from '../builder/hf-config.ts';
import { DTYPE_FILE, DTYPES, type Dtype } from '../core/dtypes.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { cpuEngineSettingsRefusal, type GenerationConfigFile } from '../cpu-engine/model-refusal.ts';
import { realPathInside } from './static-files.ts';

/** Folder names served under /models/: no dot files (temp dirs of a build in progress), no odd characters. */
export const FOLDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ModelFile {
  path: string;
  bytes: number;
  /** Lowercase hex SHA-256 of the file: the browser checks its cached copy against it. */
  sha256: string;
}

/** Hashes by absolute path, valid while the file's size and mtime stay the same. */
const hashes = new Map<string, { bytes: number; mtimeMs: number; sha256: string }>();

/** The file's SHA-256, computed once per (size, mtime): later index requests cost a stat. */
export async function fileSha256(path: string, bytes: number, mtimeMs: number): Promise<string> {
  const known = hashes.get(path);
  if (known && known.bytes === bytes && known.mtimeMs === mtimeMs) return known.sha256;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  hashes.set(path, { bytes, mtimeMs, sha256 });
  return sha256;
}

/** One entry of /models/index.json (a superset of the catalog's ServerModelEntry). */
export interface ModelIndexEntry {
  name: string;
  url: string;
  family?: string;
  synthetic: boolean;
  mirrors?: string;
  params?: number;
  contextLength?: number;
  /** Bytes of the ONNX file for each dtype present. */
  dtypes: Partial<Record<Dtype, number>>;
  shape?: {
    layers: number;
    kvHeads: number;
    headDim: number;
    hiddenSize: number;
    vocabSize: number;
    attentionBias: boolean;
    slidingWindow: boolean;
  };
  /** The config's `edgetier` provenance block, as written by convert/synth. */
  edgetier: Record<string, unknown> | null;
  /** Why edgetier's CPU engine will refuse the folder, known from its files (generation_config.json). */
  cpuEngineRefusal?: string;
  files: ModelFile[];
  totalBytes: number;
}

export interface ModelFolder {
  name: string;
  dir: string;
}

/** Every model folder in `dirs`, by name. */
export async function findModelFolders(dirs: readonly string[]): Promise<ModelFolder[]> {
  const seen = new Map<string, ModelFolder>();
  for (const dir of dirs) {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isDirectory() || !FOLDER_NAME.test(entry.name) || seen.has(entry.name)) continue;
      const folder = join(dir, entry.name);
      if (existsSync(join(folder, 'config.json'))) seen.set(entry.name, { name: entry.name, dir: folder });
    }
  }
  return [...seen.values()];
}

async function listFiles(dir: string, root = dir): Promise<ModelFile[]> {
  const files: ModelFile[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path, root)));
    else if (entry.isFile()) {
      const info = await stat(path);
      files.push({
        path: relative(root, path).split(sep).join('/'),
        bytes: info.size,
        sha256: await fileSha256(path, info.size, info.mtimeMs),
      });
    }
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** Parameters from the architecture (biases and norms included only where they are large). */
export function parameterCount(spec: ModelSpec): number {
  const h = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const perLayer = h * q + 2 * h * kv + q * h + 3 * h * spec.intermediateSize + 2 * h;
  const embeddings = spec.vocabSize * h * (spec.tieWordEmbeddings ? 1 : 2);
  return embeddings + spec.numLayers * perLayer + h;
}

/**
 * A folder's generation_config.json as the page's engine gets it, or null where it gets none: only
 * where the server would serve it (its real path inside the folder: a link out of it is a 404 to the
 * page), a regular file.
 */
async function generationConfigFile(dir: string): Promise<GenerationConfigFile | null> {
  const real = await realPathInside(dir, join(dir, 'generation_config.json'));
  if (!real) return null;
  try {
    const info = await stat(real);
    if (!info.isFile()) return null;
    return { bytes: info.size, text: async () => new TextDecoder().decode(await readFile(real)) };
  } catch {
    return null;
  }
}

export async function describeModelFolder(folder: ModelFolder): Promise<ModelIndexEntry> {
  const config = JSON.parse(await readFile(join(folder.dir, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const files = await listFiles(folder.dir);
  const dtypes: Partial<Record<Dtype, number>> = {};
  for (const dtype of DTYPES) {
    const onnx = files.filter(
      (f) => f.path === `onnx/${DTYPE_FILE[dtype]}` || f.path.startsWith(`onnx/${DTYPE_FILE[dtype]}_data`),
    );
    if (onnx.some((f) => f.path === `onnx/${DTYPE_FILE[dtype]}`))
      dtypes[dtype] = onnx.reduce((s, f) => s + f.bytes, 0);
  }
  const provenance =
    config.edgetier && typeof config.edgetier === 'object'
      ? (config.edgetier as Record<string, unknown>)
      : null;
  const entry: ModelIndexEntry = {
    name: folder.name,
    url: `/models/${encodeURIComponent(folder.name)}/`,
    synthetic: provenance?.synthetic === true,
    dtypes,
    edgetier: provenance,
    files,
    totalBytes: files.reduce((s, f) => s + f.bytes, 0),
  };
  if (typeof provenance?.mirrors === 'string') entry.mirrors = provenance.mirrors;
  const refusal = await cpuEngineSettingsRefusal(config, await generationConfigFile(folder.dir));
  if (refusal) entry.cpuEngineRefusal = refusal;
  try {
    const spec = parseHfConfig(config);
    entry.family = spec.family;
    entry.params = parameterCount(spec);
    entry.contextLength = spec.maxPositionEmbeddings;
    entry.shape = {
      layers: spec.numLayers,
      kvHeads: spec.numKvHeads,
      headDim: spec.headDim,
      hiddenSize: spec.hiddenSize,
      vocabSize: spec.vocabSize,
      attentionBias: spec.attentionBias,
      slidingWindow: (spec.slidingWindow ?? null) !== null,
    };
  } catch {
    // An architecture the builder does not know: still listed, without shape facts.
  }
  return entry;
}

export async function modelIndex(dirs: readonly string[]): Promise<{ models: ModelIndexEntry[] }> {
  const folders = await findModelFolders(dirs);
  const models: ModelIndexEntry[] = [];
  for (const folder of folders) {
    try {
      models.push(await describeModelFolder(folder));
    } catch {
      // A folder being written or with a broken config.json is skipped, not fatal.
    }
  }
  return { models };
}
