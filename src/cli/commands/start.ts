/**
 * `edgetier start` (`npm start`): everything a newcomer needs after `npm ci`, with no manual step.
 * 1. Builds the app with Vite if dist/ is missing or older than its sources.
 * 2. If the models folder holds no model, makes two shape twins (real shapes, random weights): a
 *    small on-device model for the browser, built before serving, and a larger one for the native
 *    tier, built in the background while the server already runs (its /v1 entry says "building"
 *    and answers 503 with Retry-After until it is ready).
 * 3. Starts `edgetier serve` and prints the URL.
 * Twins are built in child processes so the server stays responsive while they are written.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dtype } from '../../core/dtypes.ts';
import { EdgetierError } from '../../core/errors.ts';
import { findModelFolders } from '../../server/model-index.ts';
import { PendingTier } from '../../server/pending-tier.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../command.ts';
import { newestMtime } from '../newest-mtime.ts';
import {
  chooseTierModel,
  DEFAULT_APP_DIR,
  describeTier,
  nativeTierFor,
  SERVE_OPTIONS,
  type ServeConfig,
  serve,
  serveConfig,
  untilSignal,
  upstreamFromEnv,
} from './serve.ts';

interface Twin {
  preset: string;
  folder: string;
  dtypes: Dtype[];
  role: string;
}

/** For the browser: fp32 (exact) and q8 (the fastest WASM download), SmolLM2-135M's shapes. */
export const DEVICE_TWIN: Twin = {
  preset: 'smollm2-135m',
  folder: 'smollm2-135m-twin',
  dtypes: ['fp32', 'q8'],
  role: 'on-device model',
};
/** For the native tier: ~3.7x the parameters, q4 (the fastest native CPU format, smallest file). */
export const TIER_TWIN: Twin = {
  preset: 'qwen2.5-0.5b',
  folder: 'qwen2.5-0.5b-twin',
  dtypes: ['q4'],
  role: 'tier model',
};

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repoRoot, 'bin', 'edgetier.mjs');

/** What the app's build reads: a change in any of these makes dist/ stale. */
/** What the app's build reads: every file index.html, engine.html and vite.config.ts reach (start.test.ts). */
export const APP_SOURCES = [
  'index.html',
  'engine.html',
  'vite.config.ts',
  'public',
  'workers',
  'src/app',
  'src/client',
  'src/core',
  'src/remote',
  'src/runtime',
  'src/engine',
  // The engine worker bundles the CPU engine (and the parts of the builder it reads configs with).
  'src/cpu-engine',
  'src/builder',
  // vite.config.ts reads the app's CSP and static-file headers from the server.
  'src/server/content-security-policy.ts',
  'src/server/static-files.ts',
  'src/server/api-error.ts',
  'src/server/mime.ts',
  'package.json',
];

/** Why dist/ needs a build, or null when it is up to date (or there is no app to build). */
export function appBuildReason(root: string, dist: string): string | null {
  if (!existsSync(join(root, 'index.html')) || !existsSync(join(root, 'vite.config.ts'))) return null;
  const built = join(dist, 'index.html');
  if (!existsSync(built)) return 'not built yet';
  const sources = Math.max(...APP_SOURCES.map((p) => newestMtime(join(root, p))));
  return sources > statSync(built).mtimeMs ? 'sources changed since the last build' : null;
}

async function buildApp(say: (line: string) => void): Promise<void> {
  const reason = appBuildReason(repoRoot, DEFAULT_APP_DIR);
  if (!reason) return;
  say(`building the app with Vite (${reason})…`);
  const started = Date.now();
  try {
    const { build } = await import('vite');
    await build({ root: repoRoot, configFile: join(repoRoot, 'vite.config.ts'), logLevel: 'error' });
    say(`app built in ${seconds(Date.now() - started)}`);
  } catch (error) {
    // The API and the models still work without the page; say so instead of stopping.
    say(
      `warning: the app build failed (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); serving without it. Run \`npx vite build\` to see why.`,
    );
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Runs `edgetier synth` in a child process, relaying its progress lines. */
function synthInChild(twin: Twin, modelsDir: string, say: (line: string) => void): Promise<void> {
  const out = join(modelsDir, twin.folder);
  return new Promise((resolveBuild, reject) => {
    const child = spawn(
      process.execPath,
      [bin, 'synth', twin.preset, '--out', out, '--dtype', twin.dtypes.join(',')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let tail = '';
    const relay = (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        if (!line.trim()) continue;
        tail = line;
        say(`  [${twin.folder}] ${line}`);
      }
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolveBuild();
      else reject(new EdgetierError('internal', `building ${twin.folder} failed (exit ${code}): ${tail}`));
    });
  });
}

const help = `
Usage: npm start [-- options]      (or: edgetier start [options])

Gets a fresh checkout running, with no manual step:
  1. builds the app (Vite) if dist/ is missing or older than its sources;
  2. if the models folder holds no model, makes synthetic shape twins (real shapes and speed,
     random weights, so their answers are noise):
       ${DEVICE_TWIN.folder} (${DEVICE_TWIN.dtypes.join(', ')})  the on-device model, for the browser
       ${TIER_TWIN.folder} (${TIER_TWIN.dtypes.join(', ')})  the native tier, built in the background
     Real models: \`edgetier convert\` into the models folder; a hosted tier: EDGETIER_UPSTREAM_URL;
  3. runs \`edgetier serve\` and prints the URL.

Options: those of \`edgetier serve\` (e.g. --port <n>, --models <dir>), and
  --no-build     Do not build the app.
  --no-models    Do not make the twins.
`;

export const startCommand: Command = {
  name: 'start',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('start', args, {
      ...SERVE_OPTIONS,
      'no-build': { type: 'boolean', default: false },
      'no-models': { type: 'boolean', default: false },
    });
    if (positionals.length > 0) {
      throw new EdgetierError(
        'usage',
        `start takes no positional arguments (got "${positionals[0]}"). Run \`edgetier start --help\`.`,
      );
    }
    const config = serveConfig(values);
    const say = (line: string) => process.stdout.write(`${line}\n`);
    const started = Date.now();
    const stopped = untilSignal();

    if (!values['no-build'] && values.app === undefined) await buildApp(say);

    const modelsDir = config.modelDirs[0]!;
    const folders = await findModelFolders(config.modelDirs);
    const upstream = upstreamFromEnv();
    const makeDevice = !values['no-models'] && folders.length === 0;
    // Only the device twin (or nothing) there: the tier would run the same small model, so make its own.
    const tierTwinNeeded =
      !values['no-models'] &&
      !upstream &&
      !config.noTier &&
      config.tier === null &&
      folders.every((f) => f.name === DEVICE_TWIN.folder);
    if (makeDevice || tierTwinNeeded) {
      mkdirSync(modelsDir, { recursive: true });
      say(
        `making synthetic shape twins in ${modelsDir} (real shapes and speed, random weights: their answers are noise).`,
      );
    }
    if (makeDevice) {
      say(`making the ${DEVICE_TWIN.role} ${DEVICE_TWIN.folder} (${DEVICE_TWIN.dtypes.join(', ')})…`);
      const t = Date.now();
      await synthInChild(DEVICE_TWIN, modelsDir, say);
      say(`${DEVICE_TWIN.folder} ready in ${seconds(Date.now() - t)}`);
    }

    const pending = tierTwinNeeded
      ? new PendingTier(TIER_TWIN.folder, `synthetic shape twin of ${TIER_TWIN.preset}, built by npm start`)
      : undefined;
    const server = await serve(config, say, pending ? { native: pending } : {});
    say(`ready in ${seconds(Date.now() - started)}: open ${server.url}`);

    if (pending) {
      say(
        `making the ${TIER_TWIN.role} ${TIER_TWIN.folder} (${TIER_TWIN.dtypes.join(', ')}) in the background (a minute or two); the page works meanwhile.`,
      );
      const t = Date.now();
      void synthInChild(TIER_TWIN, modelsDir, say)
        .then(async () => {
          const tierConfig: ServeConfig = { ...config, tier: TIER_TWIN.folder };
          const choice = await chooseTierModel(tierConfig);
          if (!choice)
            throw new EdgetierError('internal', `${TIER_TWIN.folder} was built but cannot be found.`);
          await server.setNative(await nativeTierFor(tierConfig, choice, config.quiet ? () => {} : say));
          say(
            `${TIER_TWIN.folder} built in ${seconds(Date.now() - t)}; tier: ${describeTier(choice.entry, choice.dtype)}`,
          );
        })
        .catch(async (error: unknown) => {
          await server.setNative(null);
          say(
            `warning: ${error instanceof Error ? error.message : String(error)}; the tier is off. Run \`edgetier synth ${TIER_TWIN.preset} --out ${join(modelsDir, TIER_TWIN.folder)}\` and restart.`,
          );
        });
    }

    await stopped;
    await server.close();
    say('edgetier start: stopped.');
    return 0;
  },
};
