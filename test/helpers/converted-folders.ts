/**
 * A small llama checkpoint converted by `edgetier convert` (its progress kept off the test output),
 * and variants of the converted folder: the model folders the probe, index and engine-refusal tests
 * compare the CPU engine's real load on.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { type CheckpointOptions, makeCheckpoint } from './checkpoints.ts';

/**
 * The tiny llama the generation-settings tests convert: untied, a fixed seed, and weights scaled up
 * so that its greedy and sampled tokens differ from one another (a test of a setting can then fail).
 */
export const SETTINGS_CHECKPOINT = { tied: false, seed: 21, linearScale: 3 } as const;

export interface ConvertedFolders {
  /** The converted folder, <root>/built. */
  built: string;
  /** Where `folder` puts variants: <root>/models. */
  models: string;
  /** The converted config.json (its `edgetier` block included). */
  config: Record<string, unknown>;
  /**
   * A copy of the converted folder at models/<name>, `files` written over it (null: that file
   * deleted); returns its path.
   */
  folder(name: string, files?: Record<string, string | Buffer | null>): string;
}

/** `edgetier convert <checkpoint> --out <out> --dtype <dtypes>`, its progress kept off the test output. */
export async function convertQuietly(checkpoint: string, out: string, dtypes: string): Promise<void> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await convertCommand.run([checkpoint, '--out', out, '--dtype', dtypes]);
  } finally {
    process.stderr.write = write;
  }
}

/** A llama checkpoint (`options` over the defaults) converted to `dtypes` under root, and its variants. */
export async function convertedFolders(
  root: string,
  dtypes: string,
  options: Partial<CheckpointOptions> = {},
): Promise<ConvertedFolders> {
  const checkpoint = join(root, 'checkpoint');
  const built = join(root, 'built');
  const models = join(root, 'models');
  await makeCheckpoint(checkpoint, { family: 'llama', maxPositionEmbeddings: 512, ...options });
  await convertQuietly(checkpoint, built, dtypes);
  mkdirSync(models, { recursive: true });
  return {
    built,
    models,
    config: JSON.parse(readFileSync(join(built, 'config.json'), 'utf8')) as Record<string, unknown>,
    folder(name, files = {}) {
      const dir = join(models, name);
      cpSync(built, dir, { recursive: true });
      for (const [file, body] of Object.entries(files)) {
        if (body === null) rmSync(join(dir, file));
        else writeFileSync(join(dir, file), body);
      }
      return dir;
    },
  };
}

export interface TempConvertedFolders extends ConvertedFolders {
  /** The temporary folder everything lies under. */
  root: string;
  /** Deletes root and all in it. */
  remove(): Promise<void>;
}

/** convertedFolders under a fresh temporary folder named from `prefix` (removed again if the conversion fails). */
export async function tempConvertedFolders(
  prefix: string,
  dtypes: string,
  options: Partial<CheckpointOptions> = {},
): Promise<TempConvertedFolders> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const remove = () => rm(root, { recursive: true, force: true });
  try {
    return { ...(await convertedFolders(root, dtypes, options)), root, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
