/**
 * Build folders kept per state of their sources: `<cacheDir>/<newest source mtime>/`. A process that
 * serves one (a bench run of an hour, `generate --device wasm`) keeps its files while another
 * process builds a newer one (the tests after an edit): a single folder swapped in place would pull
 * the files from under the first, whose next page then fails to start its engine worker.
 * - A process that takes a folder leaves its pid in the folder's `.users/`: a folder is pruned only
 *   when none of its users is alive and it is a day old (its mtime: built, or last taken).
 * - Taking a folder and pruning run under one lock (`.lock`, an atomic mkdir holding the holder's
 *   pid; a dead holder's lock is broken), so a take never lands in a folder being removed; a pruned
 *   folder is renamed away under the lock and removed after it.
 * - Two processes building the same state race to one rename; the loser's copy is dropped.
 */
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Marks a folder whose build finished (written last, before the rename). */
const DONE = '.built';
/** The pids of the processes that took the folder. */
const USERS = '.users';
const LOCK = '.lock';
const KEEP_MS = 24 * 3600_000;
/** Longer than any take or prune holds the lock; a lock older than this whose holder is alive is waited for still. */
const LOCK_WAIT_MS = 30_000;

/** The folder of the sources' state `newest` (their newest mtime), built by `build` if not there yet. */
export async function versionedBuild(
  cacheDir: string,
  newest: number,
  build: (outDir: string) => Promise<void>,
): Promise<string> {
  const dir = join(cacheDir, String(Math.round(newest)));
  mkdirSync(cacheDir, { recursive: true });
  if (await withLock(cacheDir, () => take(dir))) return dir;
  const tmp = join(cacheDir, `.tmp-${process.pid}-${randomUUID()}`);
  try {
    await build(tmp);
    writeFileSync(join(tmp, DONE), '');
    const taken = await withLock(cacheDir, () => {
      try {
        renameSync(tmp, dir);
      } catch (error) {
        // Another process finished the same build first: use its folder.
        if (!existsSync(join(dir, DONE))) throw error;
      }
      return take(dir);
    });
    if (!taken) throw new Error(`${dir} was built but is not there: remove ${cacheDir} and try again.`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  await prune(cacheDir, dir);
  return dir;
}

/** Under the lock: registers this process as a user of a finished folder; false where there is none. */
function take(dir: string): boolean {
  if (!existsSync(join(dir, DONE))) return false;
  mkdirSync(join(dir, USERS), { recursive: true });
  writeFileSync(join(dir, USERS, String(process.pid)), '');
  const now = new Date();
  utimesSync(dir, now, now);
  return true;
}

/** Whether a process with this pid runs (signal 0 only checks). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether some process that took the folder still runs. */
function inUse(dir: string): boolean {
  let users: string[];
  try {
    users = readdirSync(join(dir, USERS));
  } catch {
    return false;
  }
  return users.some((name) => Number(name) === process.pid || alive(Number(name)));
}

/**
 * Removes the folders (and abandoned temporary builds) of other states that no running process
 * uses and that are a day old (or dated more than a day ahead: a clock set back).
 */
async function prune(cacheDir: string, keep: string): Promise<void> {
  const doomed = await withLock(cacheDir, () => {
    const now = Date.now();
    const away: string[] = [];
    for (const name of readdirSync(cacheDir)) {
      const path = join(cacheDir, name);
      if (path === keep || name === LOCK || name.startsWith('.trash-')) continue;
      try {
        const age = now - statSync(path).mtimeMs;
        if (Math.abs(age) <= KEEP_MS || inUse(path)) continue;
        const trash = join(cacheDir, `.trash-${randomUUID()}`);
        renameSync(path, trash);
        away.push(trash);
      } catch {
        // Gone meanwhile.
      }
    }
    return away;
  });
  for (const trash of doomed) rmSync(trash, { recursive: true, force: true });
  // Trash a crashed process left behind.
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    try {
      if (name.startsWith('.trash-') && Date.now() - statSync(path).mtimeMs > KEEP_MS) {
        rmSync(path, { recursive: true, force: true });
      }
    } catch {
      // Gone meanwhile.
    }
  }
}

/** Runs `fn` holding the cache folder's lock (an mkdir, which is atomic); breaks a dead holder's lock. */
async function withLock<T>(cacheDir: string, fn: () => T): Promise<T> {
  const lock = join(cacheDir, LOCK);
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readText(join(lock, 'pid')));
      // A holder that died (or never wrote its pid, a second ago or more) leaves the lock to break.
      const stale = holder > 0 ? !alive(holder) : Date.now() - mtime(lock) > 1000;
      if (stale) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new Error(
          `${lock} is held by process ${holder} for over ${LOCK_WAIT_MS / 1000} s: remove it if no edgetier build runs.`,
        );
      }
      await new Promise((done) => setTimeout(done, 20));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}
