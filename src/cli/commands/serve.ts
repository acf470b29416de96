/**
 * `edgetier serve`: the app, the model folders and the tier endpoint from one Node process.
 * `edgetier start` (npm start) prepares what a fresh checkout lacks and then serves through here.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DTYPES, type Dtype, isDtype } from '../../core/dtypes.ts';
import { EdgetierError } from '../../core/errors.ts';
import type { RemoteLimits } from '../../remote/openai-client.ts';
import { findModelFolders, type ModelIndexEntry, modelIndex } from '../../server/model-index.ts';
import { NativeTier } from '../../server/native-tier.ts';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_SHUTDOWN_GRACE_MS,
  describeAllowedHosts,
  hostname,
  isLoopback,
  type RunningServer,
  startServer,
} from '../../server/server.ts';
import { ThreadedNodeEngine } from '../../server/threaded-engine.ts';
import type { Tier } from '../../server/tier.ts';
import { UpstreamTier } from '../../server/upstream-tier.ts';
import { parseCommandArgs, parseIntegerOption } from '../args.ts';
import type { Command } from '../command.ts';

export const DEFAULT_PORT = 8787;
export const DEFAULT_QUEUE = 8;
/** Native decode speed on CPU, fastest first (see FACTS.md); the tier uses the first one present. */
export const NATIVE_DTYPE_PREFERENCE: readonly Dtype[] = ['q4', 'q8', 'fp32', 'fp16', 'q4f16'];

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_APP_DIR = resolve(repoRoot, 'dist');
export const DEFAULT_MODELS_DIR = 'models';

const help = `
Usage: edgetier serve [options]

Serves, from one process bound to 127.0.0.1:
  /                         the built app (dist/), cross-origin isolated (COOP/COEP)
  /models/index.json        every model folder in the --models dirs (built by convert or synth)
  /models/<name>/...        their files (ETag, Range)
  /v1/models                the tier's models
  /v1/chat/completions      the full-scale tier, OpenAI-compatible (streaming and not)

The tier: with EDGETIER_UPSTREAM_URL set (an OpenAI-compatible base URL ending in /v1) requests are
forwarded there with EDGETIER_UPSTREAM_KEY (or OPENAI_API_KEY) added by the server; the browser
never sees the key. Without it, the largest model folder runs natively on onnxruntime-node.

Options:
  --port <n>                 Port; 0 picks a free one. Default: ${DEFAULT_PORT}.
  --host <addr>              Address to bind. Default: 127.0.0.1. Anything else exposes the
                             server (and an upstream key's use) to the network: only on purpose.
  --allowed-host <name>      A Host name the server answers to besides localhost, 127.x.x.x, [::1]
                             and the bound address (others get 421: DNS rebinding); repeat for more.
  --models <dir>             A folder of model folders; repeat for more. Default: ${DEFAULT_MODELS_DIR}.
  --app <dir>                The built app. Default: dist/ of this checkout.
  --tier <name|dir>          The model the native tier runs: a folder name in --models or a path.
                             Default: the largest folder, unless an upstream is configured.
  --tier-dtype <dtype>       Its weights (${DTYPES.join(', ')}). Default: the first present of
                             ${NATIVE_DTYPE_PREFERENCE.join(', ')}.
  --no-tier                  No native tier.
  --queue <n>                Native requests that may wait while one runs; more get 429 with
                             Retry-After. Default: ${DEFAULT_QUEUE}.
  --max-body <bytes>         Largest request body; more gets 413. Default: ${DEFAULT_MAX_BODY_BYTES}.
  --connect-timeout <s>      Upstream: seconds until its response headers. Default: 30.
  --first-token-timeout <s>  Upstream: seconds until its first token. Default: 120.
  --idle-timeout <s>         Upstream: seconds allowed between two tokens. Default: 60.
  --grace <s>                On SIGINT/SIGTERM, seconds running answers get to finish. Default: 5.
  --quiet                    No request log.
  -h, --help                 Show this help.

Stop it with Ctrl+C (SIGINT) or SIGTERM: running answers get a few seconds to finish.
`;

export interface ServeConfig {
  port: number;
  host: string;
  allowedHosts: string[];
  modelDirs: string[];
  appDir: string;
  tier: string | null;
  tierDtype: Dtype | null;
  noTier: boolean;
  queue: number;
  maxBodyBytes: number;
  limits: Partial<RemoteLimits>;
  shutdownGraceMs: number;
  quiet: boolean;
}

export const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'allowed-host': { type: 'string', multiple: true },
  models: { type: 'string', multiple: true },
  app: { type: 'string' },
  tier: { type: 'string' },
  'tier-dtype': { type: 'string' },
  'no-tier': { type: 'boolean', default: false },
  queue: { type: 'string' },
  'max-body': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'first-token-timeout': { type: 'string' },
  'idle-timeout': { type: 'string' },
  grace: { type: 'string' },
  quiet: { type: 'boolean', default: false },
} as const;

/** A DNS name or IPv4 address: dot-separated labels of letters, digits, `-` inside and `_`, an optional root dot. */
const HOST_NAME =
  /^(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

function seconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new EdgetierError('usage', `--${name} must be a positive number of seconds, got "${value}".`);
  return Math.round(n * 1000);
}

export function serveConfig(values: {
  port?: string | undefined;
  host?: string | undefined;
  'allowed-host'?: string[] | undefined;
  models?: string[] | undefined;
  app?: string | undefined;
  tier?: string | undefined;
  'tier-dtype'?: string | undefined;
  'no-tier'?: boolean | undefined;
  queue?: string | undefined;
  'max-body'?: string | undefined;
  'connect-timeout'?: string | undefined;
  'first-token-timeout'?: string | undefined;
  'idle-timeout'?: string | undefined;
  grace?: string | undefined;
  quiet?: boolean | undefined;
}): ServeConfig {
  const port = parseIntegerOption('port', values.port, DEFAULT_PORT);
  if (port > 65535) throw new EdgetierError('usage', `--port must be at most 65535, got ${port}.`);
  const dtype = values['tier-dtype'];
  if (dtype !== undefined && !isDtype(dtype)) {
    throw new EdgetierError('usage', `--tier-dtype must be one of ${DTYPES.join(', ')}, got "${dtype}".`);
  }
  const limits: Partial<RemoteLimits> = {};
  const connect = seconds('connect-timeout', values['connect-timeout']);
  const first = seconds('first-token-timeout', values['first-token-timeout']);
  const idle = seconds('idle-timeout', values['idle-timeout']);
  if (connect !== undefined) limits.connectTimeoutMs = connect;
  if (first !== undefined) limits.firstTokenTimeoutMs = first;
  if (idle !== undefined) limits.idleTimeoutMs = idle;
  return {
    port,
    host: values.host ?? '127.0.0.1',
    allowedHosts: (values['allowed-host'] ?? []).map((name) => {
      // Compared as it is with each Host header: a wildcard or a malformed name would never match.
      if (!HOST_NAME.test(name) && !(name.startsWith('[') && hostname(name) === name.toLowerCase())) {
        throw new EdgetierError(
          'usage',
          `--allowed-host takes a host name without port or scheme (e.g. edge.lan), got "${name}". Wildcards are not supported: name each host.`,
        );
      }
      return name.toLowerCase();
    }),
    modelDirs: (values.models?.length ? values.models : [DEFAULT_MODELS_DIR]).map((d) => resolve(d)),
    appDir: resolve(values.app ?? DEFAULT_APP_DIR),
    tier: values.tier ?? null,
    tierDtype: (dtype as Dtype | undefined) ?? null,
    noTier: values['no-tier'] === true,
    queue: parseIntegerOption('queue', values.queue, DEFAULT_QUEUE),
    maxBodyBytes: parseIntegerOption('max-body', values['max-body'], DEFAULT_MAX_BODY_BYTES),
    limits,
    shutdownGraceMs:
      values.grace === undefined ? DEFAULT_SHUTDOWN_GRACE_MS : (seconds('grace', values.grace) ?? 0),
    quiet: values.quiet === true,
  };
}

/** The upstream from the environment; the key is read here and handed to the tier, nowhere else. */
export function upstreamFromEnv(env: NodeJS.ProcessEnv = process.env): { url: string; key?: string } | null {
  const url = env.EDGETIER_UPSTREAM_URL?.trim();
  if (!url) return null;
  try {
    new URL(url);
  } catch {
    throw new EdgetierError(
      'usage',
      `EDGETIER_UPSTREAM_URL is not a URL: "${url}". Example: https://api.openai.com/v1`,
    );
  }
  const key = env.EDGETIER_UPSTREAM_KEY?.trim() || env.OPENAI_API_KEY?.trim();
  return key ? { url, key } : { url };
}

/** The folder the native tier runs: --tier by name or path, else the one with the most parameters. */
export async function chooseTierModel(
  config: ServeConfig,
): Promise<{ entry: ModelIndexEntry; dir: string; dtype: Dtype } | null> {
  const { models } = await modelIndex(config.modelDirs);
  const folders = await findModelFolders(config.modelDirs);
  let entry: ModelIndexEntry | undefined;
  let dir: string | undefined;
  if (config.tier) {
    entry = models.find((m) => m.name === config.tier);
    dir = folders.find((f) => f.name === config.tier)?.dir;
    if (!entry) {
      // Not a folder name: a path to a model folder.
      const path = resolve(config.tier);
      const parent = resolve(path, '..');
      entry = (await modelIndex([parent])).models.find((m) => resolve(parent, m.name) === path);
      dir = path;
      if (!entry) {
        throw new EdgetierError(
          'model_not_found',
          `--tier ${config.tier}: no such model folder (with config.json) in ${config.modelDirs.join(', ')} or at ${path}.`,
        );
      }
    }
  } else {
    const usable = models.filter((m) => Object.keys(m.dtypes).length > 0);
    entry = usable.sort((a, b) => (b.params ?? b.totalBytes) - (a.params ?? a.totalBytes))[0];
    dir = folders.find((f) => f.name === entry?.name)?.dir;
  }
  if (!dir || !entry) return null;
  const present = Object.keys(entry.dtypes) as Dtype[];
  const dtype = config.tierDtype ?? NATIVE_DTYPE_PREFERENCE.find((d) => present.includes(d));
  if (!dtype || !present.includes(dtype)) {
    throw new EdgetierError(
      'unsupported_dtype',
      `The tier model ${entry.name} has no ${config.tierDtype ?? 'ONNX'} weights (it has: ${present.join(', ') || 'none'}). Build them with \`edgetier synth\`/\`convert\` --dtype, or pick --tier-dtype.`,
    );
  }
  return { entry, dir, dtype };
}

export function describeTier(entry: ModelIndexEntry, dtype: Dtype): string {
  const what = entry.synthetic
    ? `a synthetic shape twin${entry.mirrors ? ` of ${entry.mirrors}` : ''} (random weights: its answers are noise)`
    : 'a local model';
  return `native ${entry.name} (${dtype}) on onnxruntime-node, ${what}`;
}

/** Starts the server from a config; the caller decides when to close it. */
export async function serve(
  config: ServeConfig,
  out: (line: string) => void,
  overrides: { native?: Tier | null } = {},
): Promise<RunningServer> {
  const log = config.quiet ? () => {} : (line: string) => out(line);
  const upstreamEnv = upstreamFromEnv();
  const upstream = upstreamEnv
    ? new UpstreamTier({
        url: upstreamEnv.url,
        ...(upstreamEnv.key ? { key: upstreamEnv.key } : {}),
        limits: config.limits,
        log,
      })
    : null;
  let native: Tier | null = null;
  let choice: Awaited<ReturnType<typeof chooseTierModel>> = null;
  if (overrides.native !== undefined) {
    native = overrides.native;
  } else if (!config.noTier && (upstream === null || config.tier !== null)) {
    choice = await chooseTierModel(config);
    if (choice) native = await nativeTierFor(config, choice, log);
  }
  const server = await startServer({
    host: config.host,
    allowedHosts: config.allowedHosts,
    port: config.port,
    appDir: config.appDir,
    modelDirs: config.modelDirs,
    native,
    upstream,
    maxBodyBytes: config.maxBodyBytes,
    shutdownGraceMs: config.shutdownGraceMs,
    log,
  });
  if (upstreamEnv) {
    out(
      `tier: upstream ${upstreamEnv.url} (${upstreamEnv.key ? 'API key set, kept on the server' : 'no API key'})`,
    );
  }
  if (choice) out(`tier: ${describeTier(choice.entry, choice.dtype)}; loading…`);
  if (!upstream && !native) {
    out(
      `tier: none (no model folder in ${config.modelDirs.join(', ')}; run \`npm start\` or \`edgetier synth\`)`,
    );
  }
  if (!isLoopback(config.host)) out(`warning: bound to ${config.host}: reachable from the network.`);
  if (!isLoopback(config.host) || config.allowedHosts.length > 0) {
    out(`answers to Host names: ${describeAllowedHosts(config.host, config.allowedHosts)}`);
  }
  out(`edgetier serve: ${server.url}`);
  return server;
}

/** A NativeTier for a chosen folder, its NodeEngine on a worker thread of its own. */
export async function nativeTierFor(
  config: ServeConfig,
  choice: NonNullable<Awaited<ReturnType<typeof chooseTierModel>>>,
  log: (line: string) => void,
): Promise<NativeTier> {
  return new NativeTier({
    model: choice.entry,
    modelDir: choice.dir,
    dtype: choice.dtype,
    engine: new ThreadedNodeEngine({ modelsDir: config.modelDirs[0] ?? DEFAULT_MODELS_DIR }),
    maxQueue: config.queue,
    log,
  });
}

/** Resolves on SIGINT/SIGTERM; a second signal exits at once. */
export function untilSignal(): Promise<void> {
  return new Promise<void>((resolveSignal) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stdout.write(`${signal}: shutting down…\n`);
      resolveSignal();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Serves until SIGINT/SIGTERM, then shuts down gracefully. */
export async function serveUntilSignal(config: ServeConfig): Promise<number> {
  const stopped = untilSignal();
  const server = await serve(config, (line) => process.stdout.write(`${line}\n`));
  await stopped;
  await server.close();
  process.stdout.write('edgetier serve: stopped.\n');
  return 0;
}

export const serveCommand: Command = {
  name: 'serve',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('serve', args, SERVE_OPTIONS);
    if (positionals.length > 0) {
      throw new EdgetierError(
        'usage',
        `serve takes no positional arguments (got "${positionals[0]}"). Run \`edgetier serve --help\`.`,
      );
    }
    return serveUntilSignal(serveConfig(values));
  },
};
