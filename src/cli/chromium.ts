/**
 * Where edgetier finds Chromium and what it says when it is not there. Kept apart from the launcher
 * (no playwright-core import), so the check that runs before the tests starts in a blink.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian's Chromium, which edgetier drives (never a browser downloaded by Playwright). */
export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** Debian's package, and the command that installs it (run as root by scripts/ensure-chromium.ts). */
export const CHROMIUM_APT_PACKAGE = 'chromium';
export const CHROMIUM_INSTALL_COMMAND = `apt-get install -y ${CHROMIUM_APT_PACKAGE}`;

export interface ChromiumLocation {
  path: string;
  /** The path came from EDGETIER_CHROMIUM rather than the default. */
  fromEnv: boolean;
}

export function chromiumLocation(env: NodeJS.ProcessEnv = process.env): ChromiumLocation {
  const override = env.EDGETIER_CHROMIUM;
  return override ? { path: override, fromEnv: true } : { path: DEFAULT_CHROMIUM_PATH, fromEnv: false };
}

/** An executable file at `path`. */
export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH, or null. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutableFile(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** One line that names the missing browser and the command that installs it. */
export function missingChromiumMessage(location: ChromiumLocation): string {
  const install = `\`sudo ${CHROMIUM_INSTALL_COMMAND}\``;
  return location.fromEnv
    ? `Chromium not found at ${location.path} (EDGETIER_CHROMIUM): point EDGETIER_CHROMIUM at a Chromium ` +
        `binary, or unset it and install Debian's Chromium with ${install}.`
    : `Chromium not found at ${location.path}: install Debian's Chromium with ${install}, or set ` +
        'EDGETIER_CHROMIUM to a Chromium binary.';
}

/**
 * Why the executable at `path` is not a working Chromium (`--version` must print "Chromium N." or
 * "Google Chrome N."), or null when it is one. Takes a fraction of a second.
 */
export function chromiumVersionProblem(path: string): string | null {
  const result = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) return `failed (${result.error.message})`;
  if (result.status !== 0) return `exited with code ${result.status ?? result.signal}`;
  const printed = result.stdout.trim().split('\n')[0] ?? '';
  return /^(Chromium|Google Chrome) \d+\./.test(printed)
    ? null
    : `printed "${printed}", not a Chromium version`;
}

/** One line for an executable that is there but does not run as Chromium. */
export function brokenChromiumMessage(location: ChromiumLocation, problem: string): string {
  const where = `${location.path}${location.fromEnv ? ' (EDGETIER_CHROMIUM)' : ''}`;
  const fix = location.fromEnv
    ? "Point EDGETIER_CHROMIUM at a working Chromium binary, or unset it and install Debian's Chromium with " +
      `\`sudo ${CHROMIUM_INSTALL_COMMAND}\`.`
    : `Reinstall Debian's Chromium with \`sudo apt-get install --reinstall -y ${CHROMIUM_APT_PACKAGE}\`, or set ` +
      'EDGETIER_CHROMIUM to a working Chromium binary.';
  return `Chromium at ${where} does not run: \`${location.path} --version\` ${problem}. ${fix}`;
}

export type ChromiumAction = 'present' | 'broken' | 'install' | 'missing';

/**
 * What the pre-test check does: nothing when the browser is there and runs; stop when it is there
 * but does not run; install Debian's package where it can (root, apt-get, and the default path,
 * which is where the package puts it); otherwise stop.
 */
export function chromiumAction(facts: {
  location: ChromiumLocation;
  present: boolean;
  /** It runs as Chromium (meaningful only when present). */
  runs: boolean;
  root: boolean;
  aptGet: boolean;
}): ChromiumAction {
  if (facts.present) return facts.runs ? 'present' : 'broken';
  return !facts.location.fromEnv && facts.root && facts.aptGet ? 'install' : 'missing';
}
