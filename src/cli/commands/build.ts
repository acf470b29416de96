/**
 * `edgetier build` (`npm run build`): the app as a folder of static files for any web host, with
 * ORT's files served from the site itself, optional model folders, a service worker (cross-origin
 * isolation where the host sends no COOP/COEP, offline after the first visit) and
 * edgetier.config.json for the presenter. See src/site/static-site.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgetierError } from '../../core/errors.ts';
import { SITE_CONFIG_FILE } from '../../core/site-config.ts';
import { writeStaticSite } from '../../site/static-site.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../command.ts';

export const DEFAULT_SITE_DIR = 'dist/site';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const help = `
Usage: edgetier build [options]      (npm run build: the defaults)

Writes the app as static files that any web host serves (no edgetier process needed):
  index.html, assets/           the app and ORT's .mjs/.wasm files (never a CDN)
  models/<name>/, models/index.json   the model folders of --models (twins stay labelled)
  ${SITE_CONFIG_FILE}          what the page offers; edit it after the build (README: Deploy)
  sw.js                         service worker: cross-origin isolation on hosts without
                                COOP/COEP, and offline use after the first visit
  manifest.webmanifest, icons   installable app
  _headers                      COOP/COEP for Netlify-style hosts

Options:
  --out <dir>       Where to write the site (replaced as a whole). Default: ${DEFAULT_SITE_DIR}.
                    An ${SITE_CONFIG_FILE} already there is kept (and checked); a folder
                    holding files no build wrote is refused, never replaced.
  --models <dir>    A folder of model folders (from convert or synth) to publish; repeat for
                    more. Default: none (the page offers the Hub models).
  --app <dir>       Publish this already-built app (a Vite output) instead of building one.
  -h, --help        Show this help.
`;

/** Vite build of the app with relative URLs, so the site works under any path of a host. */
async function buildApp(outDir: string): Promise<void> {
  const { build } = await import('vite');
  await build({
    root: repoRoot,
    configFile: join(repoRoot, 'vite.config.ts'),
    base: './',
    logLevel: 'error',
    build: { outDir, emptyOutDir: true },
  });
}

export const buildCommand: Command = {
  name: 'build',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('build', args, {
      out: { type: 'string' },
      models: { type: 'string', multiple: true },
      app: { type: 'string' },
    });
    if (positionals.length > 0) {
      throw new EdgetierError(
        'usage',
        `build takes no positional arguments (got "${positionals[0]}"). Run \`edgetier build --help\`.`,
      );
    }
    const say = (line: string) => process.stdout.write(`${line}\n`);
    const out = resolve(values.out ?? DEFAULT_SITE_DIR);
    const started = Date.now();
    let appDir = values.app ? resolve(values.app) : null;
    let scratch: string | null = null;
    try {
      if (!appDir) {
        scratch = mkdtempSync(join(tmpdir(), 'edgetier-build-'));
        appDir = join(scratch, 'app');
        say('building the app with Vite…');
        await buildApp(appDir);
      }
      const site = await writeStaticSite({
        appDir,
        out,
        modelDirs: (values.models ?? []).map((d) => resolve(d)),
        say,
      });
      say(
        `${SITE_CONFIG_FILE}: ${site.configKept ? 'kept the one already there' : 'written with the defaults'}`,
      );
      say(
        `site ${site.buildId} written to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
          `(${site.models.length} model folder(s)). Try it: python3 -m http.server -d ${out} 8080`,
      );
      return 0;
    } finally {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
  },
};
