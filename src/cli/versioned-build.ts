/**
 * Build folders kept per state of their sources: `<cacheDir>/<newest source mtime>/`. A process that
 * serves one (a bench run of an hour, `generate --device wasm`) keeps its files while another
 * process builds a newer one (the tests after an edit): a single folder swapped in place would pull
 * the files from under the first, whose next page then fails to start its engine worker. Two
 * processes building the same state race to one rename; the loser's copy is dropped. Folders unused
 * for a day (their mtime: built, or taken by a process) are removed by a later build.
 */
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Marks a folder whose build finished (written last, before the rename). */
const DONE = '.built';
const KEEP_MS = 24 * 3600_000;

/** The folder of the sources' state `newest` (their newest mtime), built by `build` if not there yet. */
export async function versionedBuild(
  cacheDir: string,
  newest: number,
  build: (outDir: string) => Promise<void>,
): Promise<string> {
  const dir = join(cacheDir, String(Math.round(newest)));
  if (existsSync(join(dir, DONE))) {
    // In use again from now: pruning goes by a folder's last use, not by its build.
    markUsed(dir);
    return dir;
  }
  mkdirSync(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.tmp-${process.pid}-${randomUUID()}`);
  try {
    await build(tmp);
    writeFileSync(join(tmp, DONE), '');
    try {
      renameSync(tmp, dir);
    } catch (error) {
      // Another process finished the same build first: use its folder.
      if (!existsSync(join(dir, DONE))) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  prune(cacheDir, dir);
  return dir;
}

/** Sets the folder's mtime to now (a process started serving it). */
function markUsed(dir: string): void {
  const now = new Date();
  try {
    utimesSync(dir, now, now);
  } catch {
    // Pruned by another process meanwhile: its files were a day unused.
  }
}

/**
 * Removes the folders (and abandoned temporary builds) of other states unused for a day (by mtime:
 * a build, or a process starting to serve it); one with a future mtime (a clock set back) too.
 */
function prune(cacheDir: string, keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    if (path === keep) continue;
    try {
      const age = now - statSync(path).mtimeMs;
      if (age > KEEP_MS || age < -KEEP_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by another process meanwhile.
    }
  }
}
