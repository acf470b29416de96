/**
 * versionedBuild's promise is that a process serving one build (a bench run of
 * an hour) keeps its files while another process builds a newer state of the sources. Pruning goes
 * by the folder's mtime, so taking a folder into use must set it (a review found it left at the build's
 * time): a folder built two days ago and reused this morning by a bench (the sources did not change
 * in between) must survive the tests' rebuild after the next edit. Real child
 * processes (tsx, the real versioned-build.ts) and real files.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const root = mkdtempSync(join(tmpdir(), 'edgetier-vb-in-use-'));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const child of children) child.kill();
  rmSync(root, { recursive: true, force: true });
});

/**
 * A process that takes state `newest`'s build folder (building it if needed), prints it, then on each
 * line of stdin reads its index.html and prints the text or the error: a server of that build.
 */
const SERVER = `
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { versionedBuild } from ${JSON.stringify(join(ROOT, 'src/cli/versioned-build.ts'))};
const [cache, newest] = process.argv.slice(1);
const dir = await versionedBuild(cache, Number(newest), async (out) => {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'index.html'), 'state ' + newest);
});
console.log(dir);
for await (const _ of createInterface({ input: process.stdin })) {
  try { console.log(readFileSync(join(dir, 'index.html'), 'utf8')); } catch (e) { console.log(String(e.code)); }
}
`;

function start(cache: string, newest: number) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx/esm', '--input-type=module', '-e', SERVER, cache, String(newest)],
    { cwd: ROOT },
  );
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value as string;
  return { child, next };
}

describe('versionedBuild keeps a folder a running process serves', () => {
  it('a bench serving the build of sources unchanged for two days keeps its files when the tests build after an edit', async () => {
    const cache = join(root, 'engine-pages');
    // Two days ago: the engine page was built for the sources' state 1000.
    const built = start(cache, 1000);
    const oldDir = await built.next();
    built.child.kill();
    const twoDaysAgo = (Date.now() - 2 * 24 * 3600_000) / 1000;
    utimesSync(oldDir, twoDaysAgo, twoDaysAgo);
    // This morning: a bench starts; the sources did not change, so it serves that folder.
    const bench = start(cache, 1000);
    expect(await bench.next()).toBe(oldDir);
    bench.child.stdin.write('\n');
    expect(await bench.next()).toBe('state 1000');
    // A minute later the developer edits a source and runs the tests: a second process builds 2000.
    const tests = start(cache, 2000);
    expect(await tests.next()).not.toBe(oldDir);
    // The bench's next page asks its server for the engine page.
    bench.child.stdin.write('\n');
    expect({ folder: existsSync(oldDir), read: await bench.next() }).toEqual({
      folder: true,
      read: 'state 1000',
    });
  }, 60_000);
});
