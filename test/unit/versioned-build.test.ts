/**
 * versionedBuild (src/cli/versioned-build.ts), the engine page's and the stock page's build folders:
 * a process serving one build keeps its files while another process builds a newer state of the
 * sources (a bench run lost its engine worker to the tests' rebuild when one folder was swapped in
 * place), the same state is built once even when two builds race, and day-old folders go. Real
 * files in a temporary folder; the "build" writes files as Vite would.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { versionedBuild } from '../../src/cli/versioned-build.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-versioned-build-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A build that writes `name` into its folder after a pause (a build takes time). */
const writes =
  (name: string, calls: string[] = []) =>
  async (outDir: string) => {
    calls.push(name);
    mkdirSync(outDir, { recursive: true });
    await new Promise((done) => setTimeout(done, 20));
    writeFileSync(join(outDir, name), name);
  };

describe('versionedBuild', () => {
  it('a newer build leaves the folder another process still serves as it was', async () => {
    const cache = join(root, 'serving');
    const first = await versionedBuild(cache, 1000, writes('index-a.js'));
    const second = await versionedBuild(cache, 2000, writes('index-b.js'));
    expect(second).not.toBe(first);
    expect(readFileSync(join(first, 'index-a.js'), 'utf8')).toBe('index-a.js');
    expect(readFileSync(join(second, 'index-b.js'), 'utf8')).toBe('index-b.js');
    expect(existsSync(join(second, 'index-a.js'))).toBe(false);
  });

  it('the same state is built once, also when two builds of it race', async () => {
    const cache = join(root, 'race');
    const calls: string[] = [];
    const [a, b] = await Promise.all([
      versionedBuild(cache, 3000, writes('one.js', calls)),
      versionedBuild(cache, 3000, writes('two.js', calls)),
    ]);
    expect(a).toBe(b);
    // Exactly one of the two builds' files is in the folder both got (no mix, no half-written one).
    const present = ['one.js', 'two.js'].filter((f) => existsSync(join(a, f)));
    expect(present).toHaveLength(1);
    const again: string[] = [];
    expect(await versionedBuild(cache, 3000, writes('three.js', again))).toBe(a);
    expect(again).toEqual([]);
  });

  it("removes other states' folders a day old that no running process uses, keeps younger ones", async () => {
    const cache = join(root, 'prune');
    const old = await versionedBuild(cache, 4000, writes('old.js'));
    // Its only user (this process) gone: a pid no process has.
    rmSync(join(old, '.users'), { recursive: true, force: true });
    mkdirSync(join(old, '.users'));
    writeFileSync(join(old, '.users', '2147483646'), '');
    const recent = await versionedBuild(cache, 5000, writes('recent.js'));
    const dayAgo = (Date.now() - 25 * 3600_000) / 1000;
    utimesSync(old, dayAgo, dayAgo);
    const current = await versionedBuild(cache, 6000, writes('current.js'));
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(recent, 'recent.js'))).toBe(true);
    expect(existsSync(join(current, 'current.js'))).toBe(true);
  });

  it('a failed build leaves nothing behind and is tried again', async () => {
    const cache = join(root, 'failed');
    await expect(
      versionedBuild(cache, 7000, async (outDir) => {
        mkdirSync(outDir, { recursive: true });
        writeFileSync(join(outDir, 'half.js'), 'half');
        throw new Error('vite: syntax error');
      }),
    ).rejects.toThrow('vite: syntax error');
    const dir = await versionedBuild(cache, 7000, writes('whole.js'));
    expect(existsSync(join(dir, 'whole.js'))).toBe(true);
    expect(existsSync(join(dir, 'half.js'))).toBe(false);
  });
});
