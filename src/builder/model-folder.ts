/**
 * Writes a browser-ready model folder in the layout @huggingface/transformers loads with no
 * patches: config.json (with `transformers.js_config` and an `edgetier` provenance block),
 * generation_config.json, the tokenizer files and onnx/<one file per dtype>.
 *
 * Everything is written into a temporary folder and put in place at the end, so a failed or
 * interrupted build leaves nothing behind; where it may write and what it may replace is out-dir.ts.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { DTYPES, type Dtype, isDtype } from '../core/dtypes.ts';
import { EdgetierError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import type { HfConfig } from './hf-config.ts';
import { describeFsError, MODEL_MARKER, type OutPlan, planOutDir, startOutBuild } from './out-dir.ts';
import { type TokenizerFileSet, writeTokenizerFiles } from './tokenizer-files.ts';
import type { WeightSource } from './weights.ts';
import { type OnnxWriteResult, transformersJsConfig, writeOnnxModel } from './write-onnx.ts';

/** Where a model folder came from; written to config.json as `edgetier`. */
export type Provenance =
  | {
      synthetic: true;
      /** The Hub id of the model whose shapes the twin copies. */
      mirrors: string;
      seed: number;
      preset: string;
      /** Which tokenizer the twin carries (real, or a stand-in). */
      tokenizer: string;
    }
  | { synthetic: false; source: string };

export interface BuildModelFolderOptions {
  spec: ModelSpec;
  weights: WeightSource;
  /** The Hugging Face config to write (as read from the checkpoint, or made for a twin). */
  hfConfig: HfConfig;
  tokenizer: TokenizerFileSet;
  dtypes: Dtype[];
  outDir: string;
  provenance: Provenance;
  /** Replace an existing model folder that edgetier built (see out-dir.ts). */
  force?: boolean;
  /** A folder --out must not be, contain or lie in: the checkpoint being converted. */
  protect?: string;
  /** Where to write, decided beforehand by planOutDir (so refusals come before any work). */
  plan?: OutPlan;
  onProgress?: (line: string) => void;
}

export interface BuiltFile {
  /** Path relative to the model folder. */
  path: string;
  bytes: number;
}

export interface BuildResult {
  outDir: string;
  files: BuiltFile[];
}

/** Parses a `--dtype` list such as "fp32,q4"; refuses unknown names, listing the valid ones. */
export function parseDtypeList(value: string | undefined, fallback: readonly Dtype[]): Dtype[] {
  if (value === undefined) return [...fallback];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) {
    throw new EdgetierError('unsupported_dtype', `--dtype is empty; choose from ${DTYPES.join(', ')}.`);
  }
  for (const name of names) {
    if (!isDtype(name)) {
      throw new EdgetierError(
        'unsupported_dtype',
        `unknown dtype "${name}"; choose from ${DTYPES.join(', ')}.`,
      );
    }
  }
  return [...new Set(names as Dtype[])];
}

async function listFiles(root: string, dir = root): Promise<BuiltFile[]> {
  const out: BuiltFile[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.name === MODEL_MARKER) continue; // bookkeeping, not part of the model
    if (entry.isDirectory()) out.push(...(await listFiles(root, full)));
    else out.push({ path: relative(root, full), bytes: (await stat(full)).size });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * Removes the temporary folder if the process is interrupted (Ctrl-C) mid-build. Only when nobody
 * else handles the signal: a server with its own shutdown keeps it, and cleans up via the catch.
 */
function removeOnSignal(discard: () => void): () => void {
  const signals = (['SIGINT', 'SIGTERM'] as const).filter((s) => process.listenerCount(s) === 0);
  const handler = (signal: NodeJS.Signals) => {
    discard();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  for (const s of signals) process.once(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

export async function buildModelFolder(options: BuildModelFolderOptions): Promise<BuildResult> {
  const progress = options.onProgress ?? (() => {});
  if (options.dtypes.length === 0) {
    throw new EdgetierError('unsupported_dtype', `no dtype to build; choose from ${DTYPES.join(', ')}.`);
  }
  const plan =
    options.plan ??
    planOutDir(options.outDir, {
      force: options.force ?? false,
      onProgress: progress,
      ...(options.protect !== undefined ? { protect: options.protect } : {}),
    });
  const build = await startOutBuild(plan);
  const release = removeOnSignal(build.discardSync);
  const tmp = build.dir;
  try {
    await mkdir(join(tmp, 'onnx'));
    await writeTokenizerFiles(options.tokenizer, tmp);
    const results: Partial<Record<Dtype, OnnxWriteResult>> = {};
    for (const dtype of options.dtypes) {
      progress(`writing ${dtype} graph`);
      const started = Date.now();
      const result = await writeOnnxModel(options.spec, options.weights, dtype, tmp);
      results[dtype] = result;
      progress(
        `wrote ${basename(result.file)} (${formatBytes(result.bytes)}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    const config = {
      ...options.hfConfig,
      'transformers.js_config': transformersJsConfig(results as Record<Dtype, OnnxWriteResult | undefined>),
      edgetier: options.provenance,
    };
    await writeFile(join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    await build.commit();
  } catch (error) {
    await build.discard();
    throw describeFsError(error, plan.given);
  } finally {
    release();
  }
  return { outDir: plan.outDir, files: await listFiles(plan.outDir) };
}

/** "wrote 7 files (12.3 MiB) to DIR: onnx/model_q4.onnx 10.1 MiB, ..." for the CLI's last line. */
export function summarise(result: BuildResult): string {
  const total = result.files.reduce((sum, f) => sum + f.bytes, 0);
  const big = result.files.filter((f) => f.path.startsWith('onnx/'));
  const parts = big.map((f) => `${f.path} ${formatBytes(f.bytes)}`).join(', ');
  return `wrote ${result.files.length} files (${formatBytes(total)}) to ${result.outDir}: ${parts}`;
}
