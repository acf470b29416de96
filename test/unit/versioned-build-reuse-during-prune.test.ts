/**
 * A process reusing a day-old build folder while another process's build prunes it (a review found
 * the two interleaving: a reuse landing while the prune's recursive rm ran either got the folder and
 * then lost its files, or rebuilt into a temporary folder whose rename onto the half-removed one
 * failed with ENOTEMPTY). The folder was built by a process that has exited, so no running process
 * uses it and the prune may take it. Real child processes (tsx, the real versioned-build.ts), real
 * files; the folder is large so a removal takes a while.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { versionedBuild } from '../../src/cli/versioned-build.ts';
import { killBuildProcesses, startBuilder } from '../helpers/build-processes.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-vb-reuse-prune-'));
afterAll(() => {
  killBuildProcesses();
  rmSync(root, { recursive: true, force: true });
});

const FILES = 20_000;

describe('a process reusing a day-old folder while another prunes it', () => {
  it('the reuse either gets a folder that keeps its files or builds it again, and does not throw', async () => {
    const cache = join(root, 'engine-pages');
    // Built two days ago by a process that has exited since.
    await startBuilder(cache, 1000, FILES).exited;
    const dir = join(cache, '1000');
    expect(existsSync(join(dir, 'index.html'))).toBe(true);
    const twoDaysAgo = (Date.now() - 2 * 24 * 3600_000) / 1000;
    utimesSync(dir, twoDaysAgo, twoDaysAgo);
    // Another process builds state 2000 and prunes the day-old folder.
    const { exited } = startBuilder(cache, 2000);
    // The bench starts on the unchanged sources (state 1000) while that prune's rm is under way.
    while (existsSync(dir) && readdirSync(dir).length > FILES) await new Promise((r) => setTimeout(r, 2));
    let outcome: string;
    try {
      const got = await versionedBuild(cache, 1000, async (out) => {
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, 'index.html'), 'state 1000');
      });
      await exited;
      outcome = existsSync(join(got, 'index.html')) ? 'served' : 'files gone';
    } catch (error) {
      await exited;
      outcome = `threw ${(error as NodeJS.ErrnoException).code}`;
    }
    expect(outcome).toBe('served');
  }, 120_000);
});
