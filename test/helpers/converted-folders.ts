/**
 * A small llama checkpoint converted by `edgetier convert` (its progress kept off the test output),
 * and variants of the converted folder: the model folders the probe, index and engine-refusal tests
 * compare the CPU engine's real load on.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { makeCheckpoint } from './checkpoints.ts';

export interface ConvertedFolders {
  /** The converted folder, <root>/built. */
  built: string;
  /** Where `folder` puts variants: <root>/models. */
  models: string;
  /** The converted config.json (its `edgetier` block included). */
  config: Record<string, unknown>;
  /** A copy of the converted folder at models/<name>, `files` written over it; returns its path. */
  folder(name: string, files?: Record<string, string | Buffer>): string;
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

export async function convertedFolders(root: string, dtypes: string): Promise<ConvertedFolders> {
  const checkpoint = join(root, 'checkpoint');
  const built = join(root, 'built');
  const models = join(root, 'models');
  await makeCheckpoint(checkpoint, { family: 'llama', maxPositionEmbeddings: 512 });
  await convertQuietly(checkpoint, built, dtypes);
  mkdirSync(models, { recursive: true });
  return {
    built,
    models,
    config: JSON.parse(readFileSync(join(built, 'config.json'), 'utf8')) as Record<string, unknown>,
    folder(name, files = {}) {
      const dir = join(models, name);
      cpSync(built, dir, { recursive: true });
      for (const [file, body] of Object.entries(files)) writeFileSync(join(dir, file), body);
      return dir;
    },
  };
}
