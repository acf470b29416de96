/**
 * The first step of `npm test` (and so of `.ci/run`): the browser tests and the bench's wasm rows
 * drive Debian's Chromium. When it is there, this prints nothing. When it is missing, it installs
 * Debian's package where it can (root, apt-get, the default path), as CI needs; otherwise it stops
 * the run before anything else starts, with one line that names the browser and the install command.
 * A file there that does not run as Chromium (`--version`) stops the run in one line as well.
 *
 *   npx tsx scripts/ensure-chromium.ts
 */
import { spawnSync } from 'node:child_process';
import {
  brokenChromiumMessage,
  CHROMIUM_APT_PACKAGE,
  CHROMIUM_INSTALL_COMMAND,
  chromiumAction,
  chromiumLocation,
  chromiumVersionProblem,
  isExecutableFile,
  missingChromiumMessage,
  onPath,
} from '../src/cli/chromium.ts';

const PREFIX = 'npm test:';

function run(command: string, args: string[]): number {
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status ?? 1;
}

function ensureChromium(): number {
  const location = chromiumLocation();
  const present = isExecutableFile(location.path);
  const problem = present ? chromiumVersionProblem(location.path) : null;
  const action = chromiumAction({
    location,
    present,
    runs: problem === null,
    root: process.getuid?.() === 0,
    aptGet: onPath('apt-get') !== null,
  });
  if (action === 'present') return 0;
  if (action === 'broken') {
    process.stderr.write(`${PREFIX} ${brokenChromiumMessage(location, problem ?? '')}\n`);
    return 1;
  }
  if (action === 'missing') {
    process.stderr.write(`${PREFIX} ${missingChromiumMessage(location)}\n`);
    return 1;
  }
  process.stdout.write(`${PREFIX} installing Debian's chromium for the browser tests\n`);
  const status =
    run('apt-get', ['update', '-qq']) || run('apt-get', ['install', '-y', '-qq', CHROMIUM_APT_PACKAGE]);
  if (status !== 0 || !isExecutableFile(location.path)) {
    process.stderr.write(
      `${PREFIX} \`${CHROMIUM_INSTALL_COMMAND}\` did not install Chromium at ${location.path} (exit ${status}): ` +
        'install it by hand, or set EDGETIER_CHROMIUM to a Chromium binary.\n',
    );
    return 1;
  }
  return 0;
}

/**
 * Debian's nginx serves the static build in test/browser/static-site.test.ts (the host that sends the
 * isolation headers). Optional: where it cannot be installed, that one block says it is skipped.
 */
function ensureNginx(): void {
  if (isExecutableFile(NGINX_PATH)) return;
  if (process.getuid?.() !== 0 || onPath('apt-get') === null) {
    process.stdout.write(
      `${PREFIX} no nginx at ${NGINX_PATH}: the static-site test's nginx block is skipped (\`apt-get install -y ${NGINX_APT_PACKAGE}\` runs it)\n`,
    );
    return;
  }
  process.stdout.write(`${PREFIX} installing Debian's ${NGINX_APT_PACKAGE} for the static-site test\n`);
  run('apt-get', ['update', '-qq']) || run('apt-get', ['install', '-y', '-qq', NGINX_APT_PACKAGE]);
}

const NGINX_PATH = '/usr/sbin/nginx';
const NGINX_APT_PACKAGE = 'nginx-light';

process.exitCode = ensureChromium();
if (process.exitCode === 0) ensureNginx();
