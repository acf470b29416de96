/**
 * A process that serves one build folder for more than a day (`edgetier generate --device wasm` in a
 * long session, a multi-day bench, an engine page server left running) keeps its files when another
 * process builds a newer state: a review found the folder pruned by its mtime alone, set only when it
 * was taken. Real child processes (tsx, the real versioned-build.ts) and real files; the day that
 * passes is the folder's mtime set 25 h back.
 */
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killBuildProcesses, startBuildServer } from '../helpers/build-processes.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-vb-long-serve-vb-'));
afterAll(() => {
  killBuildProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe('versionedBuild and a process serving a folder for more than a day', () => {
  it('a server that took its folder 25 h ago and still serves it keeps its files when another process builds', async () => {
    const cache = join(root, 'engine-pages');
    // A long-running server takes (builds) state 1000's folder and keeps serving it.
    const server = startBuildServer(cache, 1000);
    const dir = await server.next();
    server.child.stdin.write('\n');
    expect(await server.next()).toBe('state 1000');
    // 25 hours of serving later: nothing touched the folder since markUsed/the build.
    const dayAndAnHourAgo = (Date.now() - 25 * 3600_000) / 1000;
    utimesSync(dir, dayAndAnHourAgo, dayAndAnHourAgo);
    // Another process builds the sources' newer state (the tests after an edit).
    const tests = startBuildServer(cache, 2000);
    expect(await tests.next()).not.toBe(dir);
    // The still-running server's next request.
    server.child.stdin.write('\n');
    expect({ folder: existsSync(dir), read: await server.next() }).toEqual({
      folder: true,
      read: 'state 1000',
    });
  }, 60_000);
});
