/**
 * versionedBuild's promise is that a process serving one build (a bench run of
 * an hour) keeps its files while another process builds a newer state of the sources. Pruning goes
 * by the folder's mtime, so taking a folder into use must set it (a review found it left at the build's
 * time): a folder built two days ago and reused this morning by a bench (the sources did not change
 * in between) must survive the tests' rebuild after the next edit. Real child
 * processes (tsx, the real versioned-build.ts) and real files.
 */
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killBuildProcesses, startBuildServer } from '../helpers/build-processes.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-vb-in-use-'));
afterAll(() => {
  killBuildProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe('versionedBuild keeps a folder a running process serves', () => {
  it('a bench serving the build of sources unchanged for two days keeps its files when the tests build after an edit', async () => {
    const cache = join(root, 'engine-pages');
    // Two days ago: the engine page was built for the sources' state 1000.
    const built = startBuildServer(cache, 1000);
    const oldDir = await built.next();
    built.child.kill();
    const twoDaysAgo = (Date.now() - 2 * 24 * 3600_000) / 1000;
    utimesSync(oldDir, twoDaysAgo, twoDaysAgo);
    // This morning: a bench starts; the sources did not change, so it serves that folder.
    const bench = startBuildServer(cache, 1000);
    expect(await bench.next()).toBe(oldDir);
    bench.child.stdin.write('\n');
    expect(await bench.next()).toBe('state 1000');
    // A minute later the developer edits a source and runs the tests: a second process builds 2000.
    const tests = startBuildServer(cache, 2000);
    expect(await tests.next()).not.toBe(oldDir);
    // The bench's next page asks its server for the engine page.
    bench.child.stdin.write('\n');
    expect({ folder: existsSync(oldDir), read: await bench.next() }).toEqual({
      folder: true,
      read: 'state 1000',
    });
  }, 60_000);
});
