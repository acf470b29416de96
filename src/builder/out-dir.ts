/**
 * Where a model folder goes, and the only things edgetier ever deletes there. The rule: nothing that
 * edgetier did not create is removed or overwritten, whatever the command line says.
 *
 * - `--out` is resolved (symlinks followed) and refused when it is the checkpoint, inside it or
 *   above it.
 * - Every folder edgetier builds holds MODEL_MARKER, a JSON list of the files it wrote with their
 *   fingerprints. `--force` replaces only such a folder (or one built before the marker existed,
 *   recognised by its exact layout and the `edgetier` block of its config.json), and only when it
 *   holds nothing else and no file was edited since. It never follows a symbolic link inside the
 *   folder, never writes through an existing name (only renames over it), and checks the folder
 *   again right before replacing anything.
 * - Building happens in a temporary folder (holding BUILD_MARKER with the pid and host, and named
 *   after the process) beside a new --out, or inside an existing empty/replaced one (so a mount point
 *   works). It is removed on every failure, and a later run on the same host removes those whose
 *   process is gone.
 * - OS errors become one line that names the user's path and what to do.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { mkdir, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { EdgetierError } from '../core/errors.ts';

/**
 * In every folder edgetier builds: `{"edgetier_model": 1, "files": [relative paths], "fingerprints":
 * {path: "sha256:<hex>" | "size:<bytes>"}}`.
 */
export const MODEL_MARKER = '.edgetier-model';
/** In every temporary build folder: the pid of the process building it and its host. */
export const BUILD_MARKER = '.edgetier-build';
const INSIDE_TMP = /^\.edgetier-tmp-(\d+)-[0-9a-z]+$/;
/** What a model folder built before MODEL_MARKER existed may hold, and nothing else. */
const LEGACY_TOP = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
]);
const LEGACY_ONNX = /^model(_fp16|_quantized|_q4|_q4f16)?\.onnx(_data)?$/;

export type OutMode = 'new' | 'empty' | 'replace';

export interface OutPlan {
  /** As the user typed it: the path error messages name. */
  given: string;
  /** Absolute, symlinks followed. */
  outDir: string;
  mode: OutMode;
  /** Files of the model being replaced, relative to outDir (mode 'replace'). */
  previousFiles: string[];
}

function refuse(message: string): EdgetierError {
  return new EdgetierError('io_error', message);
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  // `..web` is a child named "..web", not a way up: only `..` as a whole part leaves `parent`.
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** One line for an OS error on the way to `given`; what the user can do about it. */
export function describeFsError(error: unknown, given: string): EdgetierError {
  if (error instanceof EdgetierError) {
    // A writer's own wrapping of an OS error names a temporary path: describe the OS error instead.
    const cause = error.cause as NodeJS.ErrnoException | undefined;
    if (error.code !== 'io_error' || typeof cause?.code !== 'string') return error;
    return describeFsError(cause, given);
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const at = (error as NodeJS.ErrnoException | undefined)?.path;
  const where = at && resolve(at) !== resolve(given) ? ` (at ${at})` : '';
  const line = (() => {
    switch (code) {
      case 'EACCES':
      case 'EPERM':
        return `cannot write ${given}: permission denied${where}. Choose an --out in a folder you can write to.`;
      case 'EROFS':
        return `cannot write ${given}: the filesystem is read-only. Choose an --out on a writable disk.`;
      case 'ENOSPC':
      case 'EDQUOT':
        return `cannot write ${given}: no space left on the disk. Free some space or choose another --out.`;
      case 'EBUSY':
        return `cannot write ${given}: it is busy (in use by another program, or a mount point)${where}. Close what uses it or choose another --out.`;
      case 'ENOENT':
        return `cannot create ${given}: a folder on its path cannot be created here${where}. Choose an --out under an existing, writable folder.`;
      case 'ENOTDIR':
        return `cannot create ${given}: a part of its path is a file, not a folder${where}. Choose another --out.`;
      case 'ELOOP':
        return `cannot resolve ${given}: its path has a loop of symbolic links. Choose another --out.`;
      case 'ENAMETOOLONG':
        return `cannot create ${given}: the path is too long. Choose a shorter --out.`;
      default: {
        const message = error instanceof Error ? error.message : String(error);
        return `could not build ${given}: ${message}`;
      }
    }
  })();
  return new EdgetierError('io_error', line, { cause: error });
}

/** `given` resolved with symlinks followed, also where its last parts do not exist yet. */
export function resolveOutPath(given: string): string {
  const absolute = resolve(given);
  const missing: string[] = [];
  let at = absolute;
  for (;;) {
    try {
      return join(realpathSync(at), ...missing);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw describeFsError(error, given);
      let exists = false;
      try {
        lstatSync(at);
        exists = true;
      } catch {}
      if (exists) {
        throw refuse(
          `${given}: ${at} is a symbolic link to nothing. Remove the link or choose another --out.`,
        );
      }
      const parent = dirname(at);
      if (parent === at) throw describeFsError(error, given);
      missing.unshift(basename(at));
      at = parent;
    }
  }
}

/**
 * The files of a folder, relative to it (folders left out, symbolic links listed as files and never
 * followed). `skip` is a top-level entry left out: the temporary folder of the build in progress.
 */
function filesUnder(root: string, skip?: string, dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (dir === root && entry.name === skip) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory() && !entry.isSymbolicLink()) out.push(...filesUnder(root, skip, full));
    else out.push(relative(root, full));
  }
  return out;
}

/** Files up to this size are fingerprinted by content, larger ones (ONNX weights) by size. */
const HASHED_BYTES = 64 * 1024 * 1024;

/**
 * What a file of a model folder looked like when edgetier wrote it: `sha256:<hex>` of its content,
 * or `size:<bytes>` for a large one. Null for anything but a regular file (a link put in its place).
 */
function fingerprint(file: string): string | null {
  try {
    const stat = lstatSync(file);
    if (!stat.isFile()) return null;
    if (stat.size > HASHED_BYTES) return `size:${stat.size}`;
    return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
  } catch {
    return null;
  }
}

interface Marked {
  files: string[];
  /** By file: its fingerprint when written (absent in markers older than fingerprints). */
  fingerprints: Record<string, string>;
}

/** The files a marked model folder says edgetier wrote, or null when it holds no valid marker. */
function markedFiles(dir: string): Marked | null {
  const file = join(dir, MODEL_MARKER);
  if (!existsSync(file)) return null;
  try {
    const marker = JSON.parse(readFileSync(file, 'utf8')) as {
      edgetier_model?: unknown;
      files?: unknown;
      fingerprints?: unknown;
    };
    if (marker.edgetier_model !== 1 || !Array.isArray(marker.files)) return null;
    // Only plain paths inside the folder: a damaged marker must not point --force elsewhere.
    const inside = (f: unknown) =>
      typeof f === 'string' &&
      f.length > 0 &&
      !isAbsolute(f) &&
      normalize(f) === f &&
      !f.split(/[\\/]/).includes('..');
    if (!marker.files.every(inside)) return null;
    const fingerprints = marker.fingerprints ?? {};
    if (typeof fingerprints !== 'object' || fingerprints === null || Array.isArray(fingerprints)) return null;
    if (!Object.values(fingerprints).every((v) => typeof v === 'string')) return null;
    return { files: marker.files as string[], fingerprints: fingerprints as Record<string, string> };
  } catch {
    return null;
  }
}

/** A model folder built before the marker: exactly edgetier's layout and an `edgetier` block. */
function legacyFiles(dir: string, skip?: string): string[] | null {
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const block = config.edgetier;
    if (!block || typeof block !== 'object' || typeof config['transformers.js_config'] !== 'object')
      return null;
    const files = filesUnder(dir, skip);
    const fits = (f: string) => {
      const parts = f.split(sep);
      if (parts.length === 1) return LEGACY_TOP.has(parts[0]!);
      return parts.length === 2 && parts[0] === 'onnx' && LEGACY_ONNX.test(parts[1]!);
    };
    if (!files.includes('tokenizer.json') || !files.every(fits)) return null;
    return files;
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What BUILD_MARKER holds: the pid of the build and the host it runs on. */
function buildMarkerText(): string {
  return `${process.pid} ${hostname()}\n`;
}

/**
 * The pid (and host, absent in the first markers) in a temporary build folder's BUILD_MARKER, or null
 * when it is not one of ours.
 */
function buildOwner(dir: string): { pid: number; host: string | null } | null {
  try {
    const [pidText, host, ...rest] = readFileSync(join(dir, BUILD_MARKER), 'utf8').trim().split(' ');
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0 || rest.length > 0) return null;
    return { pid, host: host ?? null };
  } catch {
    return null;
  }
}

/**
 * Removes temporary build folders that a killed run left in `dir` (those named `pattern` that hold
 * BUILD_MARKER with the pid of a process that is gone). Look-alikes without the marker (e.g. from an
 * edgetier older than the marker) are only named: nothing proves edgetier made them.
 */
function removeStaleBuilds(dir: string, pattern: RegExp, onProgress?: (line: string) => void): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match) continue;
    const full = join(dir, name);
    const owner = buildOwner(full);
    if (owner === null) {
      if (!processAlive(Number(match[1]))) {
        onProgress?.(
          `${full} looks like a folder an interrupted build left; delete it if nothing else made it`,
        );
      }
      continue;
    }
    // On a volume shared between machines (or containers), a pid from elsewhere proves nothing here.
    if (owner.host !== null && owner.host !== hostname()) {
      onProgress?.(`${full} belongs to a build on ${owner.host}; delete it once that build is over`);
      continue;
    }
    if (processAlive(owner.pid)) continue;
    rmSync(full, { recursive: true, force: true });
    onProgress?.(`removed ${full}, left by an interrupted build`);
  }
}

function besidePattern(outDir: string): RegExp {
  const escaped = basename(outDir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${escaped}\\.tmp-(\\d+)-[0-9a-z]+$`);
}

/**
 * Decides, before any work, where and how a model folder is written; refuses every --out that would
 * lose something. `protect` is the checkpoint being read (never written, never above --out).
 */
export function planOutDir(
  given: string,
  options: { force: boolean; protect?: string; onProgress?: (line: string) => void },
): OutPlan {
  const outDir = resolveOutPath(given);
  if (options.protect !== undefined && existsSync(options.protect)) {
    const source = realpathSync(options.protect);
    if (outDir === source) {
      throw refuse(`--out ${given} is the checkpoint folder itself; choose another --out.`);
    }
    if (isInside(source, outDir)) {
      throw refuse(`--out ${given} contains the checkpoint ${options.protect}; choose a folder outside it.`);
    }
    if (isInside(outDir, source)) {
      throw refuse(`--out ${given} is inside the checkpoint ${options.protect}; choose a folder outside it.`);
    }
  }
  removeStaleBuilds(dirname(outDir), besidePattern(outDir), options.onProgress);

  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(outDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { given, outDir, mode: 'new', previousFiles: [] };
    throw describeFsError(error, given);
  }
  if (!stat.isDirectory()) throw refuse(`${given} exists and is not a folder; choose another --out.`);
  let entries: string[];
  try {
    removeStaleBuilds(outDir, INSIDE_TMP, options.onProgress);
    entries = readdirSync(outDir);
  } catch (error) {
    throw describeFsError(error, given);
  }
  if (entries.length === 0) return { given, outDir, mode: 'empty', previousFiles: [] };
  if (!options.force) {
    throw refuse(
      `${given} already exists and is not empty; pass --force to replace it, or choose another --out.`,
    );
  }
  const previous = replaceableFiles(outDir);
  if (previous === null) {
    throw refuse(
      `${given} is not a model folder edgetier built (it has no ${MODEL_MARKER}); --force only replaces those. Delete it yourself or choose another --out.`,
    );
  }
  if ('stranger' in previous) {
    throw refuse(
      `${given} holds ${previous.stranger}, which edgetier did not write; move it out (or delete the folder yourself) and run again.`,
    );
  }
  if ('edited' in previous) {
    throw refuse(
      `${given} holds ${previous.edited}, changed since edgetier wrote it; move it out (or delete the folder yourself) and run again.`,
    );
  }
  return { given, outDir, mode: 'replace', previousFiles: previous.files };
}

/** Bookkeeping files of ours that --force may find in a model folder besides its model files. */
const BOOKKEEPING = [MODEL_MARKER, `${MODEL_MARKER}.tmp`, BUILD_MARKER];

/**
 * What --force would remove from a model folder: the files its marker (or legacy layout) lists that
 * are really there, found by a walk that never follows a symbolic link, so a listed path below a
 * link (`onnx/model.onnx` with `onnx` a link) is never reached. Null when the folder is not one of
 * ours; `stranger` when it holds a file edgetier did not write; `edited` when a file's fingerprint
 * no longer matches the marker's.
 */
function replaceableFiles(
  dir: string,
  skip?: string,
): { files: string[] } | { stranger: string } | { edited: string } | null {
  const marked = markedFiles(dir);
  const listed = marked?.files ?? legacyFiles(dir, skip);
  if (listed === null) return null;
  const known = new Set([...listed, ...BOOKKEEPING]);
  const present = filesUnder(dir, skip);
  const stranger = present.find((f) => !known.has(f));
  if (stranger !== undefined) return { stranger };
  const files = present.filter((f) => !BOOKKEEPING.includes(f));
  // A file the user edited since (a chat template, generation settings) is theirs now.
  const edited = files.find((f) => {
    const expected = marked?.fingerprints[f];
    return expected !== undefined && fingerprint(join(dir, f)) !== expected;
  });
  if (edited !== undefined) return { edited };
  return { files };
}

/**
 * Right before anything in an existing --out is replaced: the folder must still be what planOutDir
 * saw (a real folder, empty or one of our model folders holding nothing else), since a build takes
 * minutes and the user may have changed it meanwhile. Returns the files to remove.
 */
function recheckOutDir(plan: OutPlan, tmpName: string): string[] {
  const changed = (how: string) =>
    refuse(`${plan.given} changed while edgetier was building it (${how}); nothing was replaced. Run again.`);
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(plan.outDir);
  } catch {
    throw changed('it is gone');
  }
  if (stat.isSymbolicLink()) throw changed('it is now a symbolic link');
  if (!stat.isDirectory()) throw changed('it is no longer a folder');
  if (plan.mode === 'empty') {
    const entries = readdirSync(plan.outDir).filter((e) => e !== tmpName);
    if (entries.length > 0) throw changed(`it now holds ${entries.sort().join(', ')}`);
    return [];
  }
  const now = replaceableFiles(plan.outDir, tmpName);
  if (now === null) throw changed(`it no longer holds a valid ${MODEL_MARKER}`);
  if ('stranger' in now) throw changed(`it now holds ${now.stranger}`);
  if ('edited' in now) throw changed(`${now.edited} was edited`);
  return now.files;
}

/** A temporary folder being filled; `commit` puts its files in place, `discard` removes all trace. */
export interface OutBuild {
  /** Write the model's files here. */
  dir: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
  /** The same as discard, synchronously: for a signal handler. */
  discardSync(): void;
}

/** Creates the missing folders above `dir` one by one (never `mkdir -p`, which spins on /proc). */
function createParents(dir: string, given: string): string[] {
  const created: string[] = [];
  const missing: string[] = [];
  for (let at = dir; !existsSync(at); at = dirname(at)) {
    if (dirname(at) === at) break;
    missing.unshift(at);
  }
  try {
    for (const at of missing) {
      mkdirSync(at);
      created.unshift(at);
    }
  } catch (error) {
    removeFolders(created);
    throw describeFsError(error, given);
  }
  return created;
}

/** Removes folders this run created, deepest first, if they are still empty. */
function removeFolders(created: string[]): void {
  for (const at of created) {
    try {
      rmdirSync(at);
    } catch {}
  }
}

/** Starts a build: creates the temporary folder (and any missing parents of a new --out). */
export async function startOutBuild(plan: OutPlan): Promise<OutBuild> {
  const { outDir, given } = plan;
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const createdParents = plan.mode === 'new' ? createParents(dirname(outDir), given) : [];
  const tmp =
    plan.mode === 'new'
      ? join(dirname(outDir), `.${basename(outDir)}.tmp-${suffix}`)
      : join(outDir, `.edgetier-tmp-${suffix}`);
  const discardSync = () => {
    rmSync(tmp, { recursive: true, force: true });
    removeFolders(createdParents);
  };
  try {
    await mkdir(tmp);
    await writeFile(join(tmp, BUILD_MARKER), buildMarkerText());
  } catch (error) {
    discardSync();
    throw describeFsError(error, given);
  }
  const marker = (files: string[], fingerprints: Record<string, string> = {}) => {
    const listed = [...new Set(files)].sort();
    return `${JSON.stringify({ edgetier_model: 1, files: listed, fingerprints }, null, 2)}\n`;
  };

  return {
    dir: tmp,
    discardSync,
    async discard() {
      await rm(tmp, { recursive: true, force: true });
      removeFolders(createdParents);
    },
    async commit() {
      try {
        const files = filesUnder(tmp).filter((f) => f !== BUILD_MARKER);
        // So that a later --force can tell a file the user edited since from one edgetier wrote.
        const fingerprints: Record<string, string> = {};
        for (const f of [...files].sort()) {
          const print = fingerprint(join(tmp, f));
          if (print !== null) fingerprints[f] = print;
        }
        if (plan.mode === 'new') {
          await writeFile(join(tmp, MODEL_MARKER), marker(files, fingerprints));
          await unlink(join(tmp, BUILD_MARKER));
          await rename(tmp, outDir);
          return;
        }
        // Inside an existing folder (possibly a mount point, which cannot be renamed). Nothing there
        // is ever written in place, only replaced by a rename of a file made in `tmp`: an existing
        // name may be a link (symbolic or hard) to a file that is not ours.
        const previous = recheckOutDir(plan, basename(tmp));
        const putMarker = async (list: string[], prints?: Record<string, string>) => {
          const staged = join(tmp, `${MODEL_MARKER}.staged`);
          await writeFile(staged, marker(list, prints));
          await rename(staged, join(outDir, MODEL_MARKER));
        };
        // Mark every file of the old and the new model first (without fingerprints: old and new
        // files may share names), so an interruption leaves a folder --force knows.
        await putMarker([...previous, ...files]);
        for (const f of [...previous, `${MODEL_MARKER}.tmp`]) await rm(join(outDir, f), { force: true });
        for (const f of files) {
          await mkdir(dirname(join(outDir, f)), { recursive: true });
          await rename(join(tmp, f), join(outDir, f));
        }
        const emptied = new Set(previous.map((f) => dirname(f)));
        for (const f of files) emptied.delete(dirname(f));
        await removeEmptyFolders(outDir, emptied);
        await putMarker(files, fingerprints);
        await rm(tmp, { recursive: true, force: true });
      } catch (error) {
        throw describeFsError(error, given);
      }
    },
  };
}

/** Removes the folders the old model's files were in, where they are now empty (deepest first). */
async function removeEmptyFolders(root: string, folders: Set<string>): Promise<void> {
  const deepestFirst = [...folders].filter((f) => f !== '.').sort((a, b) => b.length - a.length);
  for (const folder of deepestFirst) {
    try {
      await rmdir(join(root, folder));
    } catch {}
  }
}
