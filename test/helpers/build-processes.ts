/**
 * Real processes using src/cli/versioned-build.ts, as a bench and the tests do: one that takes a
 * build folder and serves it (reads its index.html on each stdin line), one that builds and exits.
 * Each builds state `newest` as `index.html` ("state <newest>") plus `files` empty assets.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(import.meta.dirname, '../..');

const BUILD = `
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { versionedBuild } from ${JSON.stringify(join(ROOT, 'src/cli/versioned-build.ts'))};
const [cache, newest, files, serve] = process.argv.slice(1);
const dir = await versionedBuild(cache, Number(newest), async (out) => {
  mkdirSync(out, { recursive: true });
  for (let i = 0; i < Number(files); i++) writeFileSync(join(out, 'asset-' + i + '.js'), '');
  writeFileSync(join(out, 'index.html'), 'state ' + newest);
});
console.log(dir);
if (serve === 'serve') {
  for await (const _ of createInterface({ input: process.stdin })) {
    try { console.log(readFileSync(join(dir, 'index.html'), 'utf8')); } catch (e) { console.log(String(e.code)); }
  }
}
`;

const children: ChildProcessWithoutNullStreams[] = [];

function run(cache: string, newest: number, files: number, serve: boolean) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx/esm',
      '--input-type=module',
      '-e',
      BUILD,
      cache,
      String(newest),
      String(files),
      serve ? 'serve' : '',
    ],
    { cwd: ROOT },
  );
  children.push(child);
  return child;
}

/** A server of state `newest`'s folder: `next()` is its next line (first the folder, then each read's text or error code). */
export function startBuildServer(cache: string, newest: number) {
  const child = run(cache, newest, 0, true);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value as string;
  return { child, next };
}

/** A process that builds (or takes) state `newest` with `files` assets and exits. */
export function startBuilder(cache: string, newest: number, files = 0) {
  const child = run(cache, newest, files, false);
  child.stdout.resume();
  return { child, exited: new Promise((done) => child.on('exit', done)) };
}

/** Ends every process these helpers started. */
export function killBuildProcesses(): void {
  for (const child of children.splice(0)) child.kill();
}
