/**
 * `edgetier start` without its slow parts (the Vite build and the default twins are measured by
 * hand, see the report): it serves what the models folder holds and decides when dist/ is stale.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthPreset } from '../../src/builder/synth.ts';
import { APP_SOURCES, appBuildReason } from '../../src/cli/commands/start.ts';
import { ENGINE_PAGE_SOURCES } from '../../src/cli/engine-page.ts';
import { startServe } from '../helpers/serve-process.ts';
import { reachable } from '../helpers/source-graph.ts';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'edgetier-start-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('appBuildReason', () => {
  it('builds when dist is missing or older than a source, not otherwise, and never without an app', () => {
    const app = join(root, 'app');
    const dist = join(app, 'dist');
    mkdirSync(join(app, 'src', 'app'), { recursive: true });
    expect(appBuildReason(app, dist)).toBeNull(); // no index.html / vite.config.ts: nothing to build
    writeFileSync(join(app, 'index.html'), '<!doctype html>');
    writeFileSync(join(app, 'vite.config.ts'), 'export default {};');
    writeFileSync(join(app, 'src', 'app', 'main.ts'), 'export {};');
    expect(appBuildReason(app, dist)).toBe('not built yet');
    mkdirSync(dist);
    writeFileSync(join(dist, 'index.html'), '<!doctype html>');
    const past = new Date(Date.now() - 60_000);
    for (const f of ['index.html', 'vite.config.ts', 'src/app/main.ts']) utimesSync(join(app, f), past, past);
    expect(appBuildReason(app, dist)).toBeNull();
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(app, 'src', 'app', 'main.ts'), future, future);
    expect(appBuildReason(app, dist)).toBe('sources changed since the last build');
  });
});

describe('edgetier start', () => {
  it('serves an existing models folder without making twins, and passes --port through', async () => {
    const models = join(root, 'models');
    await synthPreset('tiny', join(models, 'my-tiny'), { dtypes: ['fp32'] });
    const server = await startServe(['--no-build', '--models', models], {}, 'start');
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const list = (await (await fetch(`${server.url}v1/models`)).json()) as { data: { id: string }[] };
      expect(list.data.map((m) => m.id)).toEqual(['my-tiny']);
      expect(server.output()).not.toContain('making synthetic shape twins');
      expect(server.output()).toContain(
        'tier: native my-tiny (fp32) on onnxruntime-node, a synthetic shape twin',
      );
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(server.output()).toContain('edgetier start: stopped.');
  });
});

describe('the rebuild checks watch every source their build reads', () => {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const uncovered = (entries: string[], sources: readonly string[]) =>
    [...reachable(repo, entries)].filter((f) => !sources.some((s) => f === s || f.startsWith(`${s}/`)));

  it('`edgetier start` (dist/): what index.html, engine.html and vite.config.ts reach', () => {
    expect(uncovered(['index.html', 'engine.html', 'vite.config.ts'], APP_SOURCES)).toEqual([]);
  });

  it('the engine page (`generate --device wasm`, browser tests): what engine.html and vite.config.ts reach', () => {
    expect(uncovered(['engine.html', 'vite.config.ts'], ENGINE_PAGE_SOURCES)).toEqual([]);
  });
});
