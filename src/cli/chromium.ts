/**
 * Where edgetier finds Chromium and what it says when it is not there. Kept apart from the launcher
 * (no playwright-core import), so the check that runs before the tests starts in a blink.
 */
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

export type ChromiumAction = 'present' | 'install' | 'missing';

/**
 * What the pre-test check does: nothing when the browser is there; install Debian's package where
 * it can (root, apt-get, and the default path, which is where the package puts it); otherwise stop.
 */
export function chromiumAction(facts: {
  location: ChromiumLocation;
  present: boolean;
  root: boolean;
  aptGet: boolean;
}): ChromiumAction {
  if (facts.present) return 'present';
  return !facts.location.fromEnv && facts.root && facts.aptGet ? 'install' : 'missing';
}
